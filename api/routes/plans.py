"""Plans and their severity definitions, readable by every signed-in user."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import CurrentUser
from api.deps import CatalogsDep
from api.errors import NotFound
from policies.catalog import resolve_plan
from policies.plan_snapshot import PlanSnapshot

router = APIRouter(prefix="/plans", tags=["plans"])


@router.get("", response_model=list[str])
def list_plans(user: CurrentUser, catalogs: CatalogsDep) -> list[str]:
    """Every plan as `catalog:plan`."""
    return sorted(f"{c.id}:{p.id}" for c in catalogs.values() for p in c.plans)


@router.get("/{plan}", response_model=PlanSnapshot)
def get_plan(plan: str, user: CurrentUser, catalogs: CatalogsDep) -> PlanSnapshot:
    """A plan as a case opening now would freeze it: targets, severities with their
    definitions (so customers file the right one), calendar, escalation chain."""
    catalog_id, _, plan_id = plan.partition(":")
    catalog = catalogs.get(catalog_id)
    if catalog is None or plan_id not in {p.id for p in catalog.plans}:
        raise NotFound(f"plan {plan} does not exist")
    return resolve_plan(catalog, plan_id, datetime.now(UTC))
