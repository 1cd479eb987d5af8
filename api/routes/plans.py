"""Plans and their severity definitions, readable by every signed-in user."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import CurrentUser
from api.deps import CatalogsDep
from api.errors import NotFound
from policies.plan_ref import PlanRef
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan

router = APIRouter(prefix="/plans", tags=["plans"])


@router.get("", response_model=list[str])
def list_plans(user: CurrentUser, catalogs: CatalogsDep) -> list[str]:
    """Every plan as `catalog:plan`."""
    return sorted(str(PlanRef(c.id, p.id)) for c in catalogs.values() for p in c.plans)


@router.get("/{plan}", response_model=PlanSnapshot)
def get_plan(plan: str, user: CurrentUser, catalogs: CatalogsDep) -> PlanSnapshot:
    """A plan as a case opening now would freeze it: targets, severities with their
    definitions (so customers file the right one), calendar, escalation chain."""
    try:
        ref = PlanRef.parse(plan)
    except ValueError:
        raise NotFound(f"plan {plan} does not exist") from None
    catalog = catalogs.get(ref.catalog)
    if catalog is None or ref.plan not in {p.id for p in catalog.plans}:
        raise NotFound(f"plan {plan} does not exist")
    return resolve_plan(catalog, ref.plan, datetime.now(UTC))
