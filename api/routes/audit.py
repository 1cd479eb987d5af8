"""Audit routes, read-only, for auditors and admins: everything here comes from a case's
Temporal histories (through continue-as-new), except the case list and SLA attainment,
which read the read model."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.audit import closed_between, evidence_response, histories_of, other_plan
from api.auth import CurrentUser, require
from api.deps import CaseNumber, CatalogsDep, EngineDep, Offset, TemporalDep
from api.errors import InvalidField
from api.schemas import Day, Instant, InstantOrDay
from audit.asof import CaseAsOf, NotOpenYet, case_as_of
from audit.attainment import AttainmentReport, Table, attainment, to_csv, to_html
from audit.history import histories_to_json
from audit.replay import Verdict, replay_case
from audit.timeline import CaseTimeline, timeline
from audit.whatif import WhatIfReport, what_if
from models.case import Role

router = APIRouter(prefix="/audit", tags=["audit"])
# Who may audit (admins always may); the console's audit pages check the same.
AUDIT_ROLES = (Role.auditor,)
AUDITORS = require(*AUDIT_ROLES)


class ClosedCases(BaseModel):
    numbers: list[int]
    total: int
    limit: int
    offset: int


def csv_name(table: Table) -> str:
    """The download's file name: the rows as before, the plan table beside them."""
    return "sla-attainment.csv" if table is Table.clocks else "sla-attainment-plans.csv"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


@router.get("/cases", dependencies=[AUDITORS])
def cases_closed(
    engine: EngineDep,
    closed_from: Annotated[
        InstantOrDay | None, Query(description="Closed at or after (a day: 00:00 UTC)")
    ] = None,
    closed_until: Annotated[
        InstantOrDay | None, Query(description="Closed before (a day: 00:00 UTC)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ClosedCases:
    """Numbers of the cases closed in a period (closed, confirmed or out of scope): what a
    bulk replay walks."""
    if closed_from and closed_until and closed_until <= closed_from:
        raise InvalidField("query.closed_until", "must come after closed_from")
    numbers, total = closed_between(engine, closed_from, closed_until, limit, offset)
    return ClosedCases(numbers=numbers, total=total, limit=limit, offset=offset)


@router.get("/cases/{number}/histories", dependencies=[AUDITORS])
async def histories(number: CaseNumber, client: TemporalDep) -> Response:
    """Every run's Temporal history, oldest first: `{"workflow_id", "runs": [...]}`, each
    run in the `temporal workflow show -o json` form. What a local replay gate reads."""
    runs = await histories_of(client, number)
    return Response(histories_to_json(runs), media_type="application/json")


@router.get("/cases/{number}/timeline", dependencies=[AUDITORS])
async def case_timeline(number: CaseNumber, client: TemporalDep) -> CaseTimeline:
    """Who did what, when and why, from the Temporal histories: every event with the run
    and history event it was recorded in, the SLA clock events, and the plan applied."""
    return timeline(await histories_of(client, number))


@router.get("/cases/{number}/replay", dependencies=[AUDITORS])
async def replay(number: CaseNumber, client: TemporalDep) -> Verdict:
    """Replay the case's histories against the workflow code this API runs: intact, or
    the first diverging event and why."""
    return await replay_case(await histories_of(client, number))


@router.get("/cases/{number}/as-of", dependencies=[AUDITORS])
async def as_of(
    number: CaseNumber,
    client: TemporalDep,
    at: Annotated[Instant, Query(description="The instant, with its offset")],
) -> CaseAsOf:
    """The case's state and every clock as they stood at `at`, replayed from its history
    through the workflow code (not read from the read model)."""
    runs = await histories_of(client, number)
    try:
        return await case_as_of(runs, at)
    except NotOpenYet as err:
        raise InvalidField(
            "query.at", f"case {number} was not open yet at {at.isoformat()}: {err}"
        ) from None


@router.get(
    "/cases/{number}/evidence",
    dependencies=[AUDITORS],
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "The evidence bundle; its head digest is in X-Evidence-Head",
        }
    },
)
async def evidence(number: CaseNumber, client: TemporalDep, user: CurrentUser) -> Response:
    """The case as one self-contained evidence file (histories, policy snapshot, timeline,
    SHA-256 manifest chained over the events); check it with `tierline audit verify`."""
    return evidence_response(number, await histories_of(client, number), user.id)


@router.get("/cases/{number}/what-if", dependencies=[AUDITORS])
async def case_what_if(
    number: CaseNumber,
    client: TemporalDep,
    catalogs: CatalogsDep,
    plan: Annotated[
        str, Query(max_length=200, description="catalog:plan, e.g. worldscape:premier")
    ],
) -> WhatIfReport:
    """The case's recorded actions run under another plan: which clocks would have been
    met or breached. Nothing is written; the real case is untouched."""
    runs = await histories_of(client, number)
    return what_if(runs, other_plan(catalogs, plan, runs))


@router.get(
    "/attainment",
    dependencies=[AUDITORS],
    response_model=AttainmentReport,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "text/html": {},
            },
            "description": "The report as JSON, CSV (one of its tables), or an HTML page "
            "with a chart and both tables",
        }
    },
)
def sla_attainment(
    engine: EngineDep,
    since: Annotated[Day | None, Query(description="First day (UTC), inclusive")] = None,
    until: Annotated[Day | None, Query(description="Last day (UTC), exclusive")] = None,
    organisation: Annotated[str | None, Query(max_length=100)] = None,
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
    table: Annotated[
        Table,
        Query(
            description="CSV only: `clocks` (the rows) or `plans` (per plan and month, with "
            "cases opened and deflected)"
        ),
    ] = Table.clocks,
) -> Any:
    """SLA attainment per plan, severity, tier, month and clock (met, breached, paused), and
    per plan and month with the cases opened and deflected by knowledge-base articles."""
    if since and until and until <= since:
        raise InvalidField("query.until", "must come after since")
    report: AttainmentReport = attainment(engine, since, until, organisation)
    if format is ReportFormat.csv:
        return Response(
            to_csv(report, table),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{csv_name(table)}"'},
        )
    if format is ReportFormat.html:
        return Response(to_html(report), media_type="text/html")
    return report
