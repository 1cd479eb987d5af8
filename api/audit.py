"""What the auditor's routes do: read a case's Temporal histories and hand them to `audit`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowHistory

from api.errors import Conflict, InvalidField
from audit.evidence import bundle_filename, export_case_bundle
from audit.history import HistoryProblem, case_histories, case_start
from db.read_model import CaseEventRecord
from policies.format import Catalog
from policies.plan_ref import PlanRef
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan

EVIDENCE_HEAD = "X-Evidence-Head"
# The facts that close a case: closed by an agent, confirmed by the customer, out of scope.
CLOSING_KINDS = ("closed", "confirmed", "closed_out_of_scope")


def evidence_response(number: int, histories: list[WorkflowHistory], exported_by: str) -> Response:
    """The case's evidence file as a download, its head digest in `EVIDENCE_HEAD`
    (`HistoryProblem` for a history that is not a case's, a 409 for any other refusal)."""
    try:
        bundle = export_case_bundle(histories, exported_by=exported_by)
    except HistoryProblem:
        raise  # the same 409 as everywhere (api.errors.DOMAIN_PROBLEMS)
    except ValueError as err:
        raise Conflict(f"case {number}: {err}") from None
    # The head digest as the bundle's manifest states it; verifying it again is the
    # auditor's job, offline.
    head: str = json.loads(bundle)["manifest"]["head"]
    return Response(
        bundle,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{bundle_filename(number)}"',
            EVIDENCE_HEAD: head,
        },
    )


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
