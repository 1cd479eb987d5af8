"""What the auditor's routes do: read a case's Temporal histories and hand them to `audit`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowHistory

from api.errors import InvalidField
from audit.history import case_histories, case_start
from db.read_model import CaseEventRecord
from policies.format import Catalog
from policies.plan_ref import PlanRef
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan

# The facts that close a case: closed by an agent, confirmed by the customer, out of scope.
CLOSING_KINDS = ("closed", "confirmed", "closed_out_of_scope")


async def histories_of(client: Client, number: int) -> list[WorkflowHistory]:
    """Every run of the case, oldest first (`CaseNotFound`, a 404, when Temporal has no
    such case)."""
    return await case_histories(client, number)


def closed_between(
    engine: Engine, since: datetime | None, until: datetime | None, limit: int, offset: int
) -> tuple[list[int], int]:
    """Numbers of the cases closed in [since, until), ascending, and how many there are."""
    conditions: list[Any] = [col(CaseEventRecord.kind).in_(CLOSING_KINDS)]
    if since is not None:
        conditions.append(col(CaseEventRecord.at) >= since)
    if until is not None:
        conditions.append(col(CaseEventRecord.at) < until)
    numbers = select(col(CaseEventRecord.case_number)).where(*conditions).distinct()
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(numbers.subquery())).one()
        page = session.exec(
            numbers.order_by(col(CaseEventRecord.case_number)).limit(limit).offset(offset)
        ).all()
    return list(page), total


def other_plan(
    catalogs: dict[str, Catalog], reference: str, histories: list[WorkflowHistory]
) -> PlanSnapshot:
    """`catalog:plan` frozen as it would have been when the case opened, with its add-ons."""
    try:
        ref: PlanRef | None = PlanRef.parse(reference)
    except ValueError:
        ref = None
    catalog = catalogs.get(ref.catalog) if ref else None
    if ref is None or catalog is None:
        known = ", ".join(sorted(catalogs))
        raise InvalidField(
            "query.plan", f"use catalog:plan with a known catalog ({known}), not {reference!r}"
        )
    opening = case_start(histories)
    # The case's add-ons that the other plan offers too; the others cannot apply to it.
    offered = {addon.id for addon in catalog.addons if ref.plan in addon.plans}
    addons = [addon for addon in opening.plan.addons if addon in offered]
    try:
        return resolve_plan(catalog, ref.plan, opening.plan.opened_at, addons)
    except (KeyError, ValueError) as err:
        raise InvalidField("query.plan", f"cannot use plan {reference}: {err}") from None
