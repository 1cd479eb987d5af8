"""Plain builder functions for test data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from models.case import Actor, CaseDetails, CaseRouting, Contact, OpenCase, Role
from policies.loading import load_catalog, load_catalogs
from policies.plan_ref import PlanRef
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan


def case_details(**overrides: Any) -> CaseDetails:
    values: dict[str, Any] = {
        "organisation": "acme",
        "company_name": "Acme Corp",
        "contact": Contact(name="Ann Example", email="ann@acme.example"),
        "channel": "web",
        "title": "Exports fail with a timeout",
        "details": "Since this morning every export of more than 1,000 rows times out.",
        "severity": "critical",
    }
    values.update(overrides)
    return CaseDetails.model_validate(values)


def case_body(**overrides: Any) -> dict[str, Any]:
    return case_details(**overrides).model_dump(mode="json")


CATALOG_DIR = Path(__file__).parent / "catalogs"


def plan_snapshot(plan: str, opened_at: datetime, addons: tuple[str, ...] = ()) -> PlanSnapshot:
    """A frozen plan from a shipped catalog ("catalog:plan") or a test catalog."""
    ref = PlanRef.parse(plan)
    test_file = CATALOG_DIR / f"{ref.catalog}.yaml"
    catalog = load_catalog(test_file) if test_file.exists() else load_catalogs()[ref.catalog]
    return resolve_plan(catalog, ref.plan, opened_at, addons=addons)


def open_case(
    number: int,
    plan: str,
    opened_at: datetime,
    routing: CaseRouting | None = None,
    **details: Any,
) -> OpenCase:
    return OpenCase(
        number=number,
        details=case_details(**details),
        plan=plan_snapshot(plan, opened_at),
        routing=routing or CaseRouting(),
        opened_by=Actor(id="ann@acme.example", role=Role.customer),
    )


AGENT = Actor(id="agent-bob", role=Role.agent)
CUSTOMER = Actor(id="ann@acme.example", role=Role.customer)
