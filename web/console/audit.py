"""Audit, for auditors and admins: SLA attainment per plan and month as a chart, and a
case's audit trail read from its Temporal histories: the timeline, the replay verdict,
the case as of an instant and the evidence file. The functions of the API's /audit
routes, called directly."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from api.audit import closed_between, evidence_response, histories_of
from api.deps import MAX_ID, CaseNumber
from api.errors import DOMAIN_PROBLEMS, TierlineError
from api.routes.audit import AUDIT_ROLES, csv_name
from api.schemas import Day, Instant
from audit.asof import CaseAsOf, CaseNeverOpened, NotOpenYet, ReplayFailed, case_as_of
from audit.attainment import AttainmentReport, Table, attainment, to_csv
from audit.history import HistoryProblem, case_start, event_time
from audit.replay import Verdict, replay_case
from audit.timeline import CaseTimeline, timeline
from web.console.base import PREFIX, WebUser, allow, page

router = APIRouter(prefix=f"{PREFIX}/audit", include_in_schema=False)
AUDITORS = AUDIT_ROLES
DOMAIN_ERRORS = tuple(DOMAIN_PROBLEMS)
CLOSED_SHOWN = 100
# The chart's geometry (SVG user units) and its colour bands, as audit.attainment.to_svg
# draws them for the API's HTML report.
LABEL_WIDTH, BAR_WIDTH, BAR_HEIGHT, BAR_GAP, TOP = 230, 420, 22, 8, 28
BANDS = ((0.9, "good"), (0.75, "fair"), (0.0, "poor"))
DAY = TypeAdapter(Day)
INSTANT = TypeAdapter(Instant)


def _page_error(err: Exception) -> TierlineError:
    """A domain error as the page's refusal, with the status the API gives it."""
    status, title = next(found for kind, found in DOMAIN_PROBLEMS.items() if isinstance(err, kind))
    refusal = TierlineError(str(err))
    refusal.status, refusal.title = status, title
    return refusal


async def _histories(client: Client, number: int) -> list[WorkflowHistory]:
    try:
        return await histories_of(client, number)
    except DOMAIN_ERRORS as err:
        raise _page_error(err) from None


def band(share: float) -> str:
    """The colour band of an attainment share."""
    return next(name for floor, name in BANDS if share >= floor)


@dataclass(frozen=True)
class Bar:
    """One plan and month of the chart."""

    plan: str
    month: str
    met: int
    breached: int
    y: int

    @property
    def outcomes(self) -> int:
        return self.met + self.breached

    @property
    def share(self) -> float:
        return self.met / self.outcomes if self.outcomes else 0.0

    @property
    def width(self) -> float:
        return round(BAR_WIDTH * self.share, 1)

    @property
    def band(self) -> str:
        return band(self.share)


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    axis_x: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH
    bar_height: int = BAR_HEIGHT
    top: int = TOP
    ticks: tuple[int, ...] = (0, 50, 75, 90, 100)

    @property
    def height(self) -> int:
        return TOP + len(self.bars) * (BAR_HEIGHT + BAR_GAP) + 24

    @property
    def width(self) -> int:
        return self.axis_x + BAR_WIDTH + 120


def chart(report: AttainmentReport) -> Chart:
    bars = [
        Bar(plan, month, met, breached, TOP + index * (BAR_HEIGHT + BAR_GAP))
        for index, (plan, month, met, breached) in enumerate(report.by_plan_and_month())
    ]
    # Room for the longest label ("us-software-002:enterprise 2026-12") at the chart's
    # 13 px: about 8 px a character, wide digits and colons included.
    longest = max((len(f"{bar.plan} {bar.month}") for bar in bars), default=0)
    return Chart(bars, axis_x=max(LABEL_WIDTH, longest * 8 + 16))


@dataclass(frozen=True)
class Period:
    """The report's filters as typed, what they mean, and what is wrong with them."""

    since_text: str
    until_text: str
    organisation: str
    since: date | None
    until: date | None
    errors: dict[str, str]


def _period(since: str | None, until: str | None, organisation: str | None) -> Period:
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name, text in (("since", since), ("until", until)):
        days[name] = None
        if text:
            try:
                days[name] = DAY.validate_python(text)
            except ValidationError as err:
                errors[name] = "; ".join(e["msg"] for e in err.errors())
    first, last = days["since"], days["until"]
    if first and last and last <= first:
        errors["until"] = "must come after since"
    return Period(since or "", until or "", (organisation or "").strip(), first, last, errors)


FilterText = Annotated[str | None, Query(max_length=100)]


@router.get("", response_class=HTMLResponse)
async def audit_home(
    request: Request,
    me: WebUser,
    since: FilterText = None,
    until: FilterText = None,
    organisation: FilterText = None,
) -> Response:
    """Find a case to audit; SLA attainment per plan and month, as a chart and a table."""
    allow(me, AUDITORS)
    period = _period(since, until, organisation)
    if period.errors:
        return page(request, me, "console/audit.html", 422, period=period, report=None)
    engine = request.app.state.engine
    report = await asyncio.to_thread(
        attainment, engine, period.since, period.until, period.organisation or None
    )
    closed, total = await asyncio.to_thread(
        closed_between, engine, _midnight(period.since), _midnight(period.until), CLOSED_SHOWN, 0
    )
    return page(
        request,
        me,
        "console/audit.html",
        period=period,
        report=report,
        chart=chart(report),
        band=band,
        closed=closed,
        closed_total=total,
    )


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.get("/attainment.csv")
async def attainment_csv(
    request: Request,
    me: WebUser,
    since: FilterText = None,
    until: FilterText = None,
    organisation: FilterText = None,
    table: Table = Table.clocks,
) -> Response:
    """One of the attainment report's tables as CSV, as the API's `format=csv` gives it."""
    allow(me, AUDITORS)
    period = _period(since, until, organisation)
    if period.errors:
        detail = "; ".join(f"{name}: {problem}" for name, problem in period.errors.items())
        return page(request, me, "console/error.html", 422, detail=detail)
    report = await asyncio.to_thread(
        attainment,
        request.app.state.engine,
        period.since,
        period.until,
        period.organisation or None,
    )
    return Response(
        to_csv(report, table),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{csv_name(table)}"'},
    )


@router.get("/cases", response_class=HTMLResponse)
async def find_case(me: WebUser, number: Annotated[int, Query(ge=1, le=MAX_ID)]) -> Response:
    """Jump to a case's audit page by number."""
    allow(me, AUDITORS)
    return RedirectResponse(f"{PREFIX}/audit/cases/{number}", status_code=303)


@dataclass(frozen=True)
class Life:
    """The span the time slider covers: from the case's opening to the end of its
    workflow, or to now while it runs."""

    opened_at: datetime
    ends_at: datetime
    ended: bool

    @property
    def seconds(self) -> int:
        return max(math.ceil((self.ends_at - self.opened_at).total_seconds()), 0)

    def offset(self, at: datetime) -> int:
        return min(max(math.ceil((at - self.opened_at).total_seconds()), 0), self.seconds)

    def at(self, offset: int) -> datetime:
        return self.opened_at + timedelta(seconds=min(offset, self.seconds))


def field_value(moment: datetime) -> str:
    """An instant for a datetime field (UTC, to the second, rounded up: the second that
    holds the instant would come before it)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _life(histories: list[WorkflowHistory], trail: CaseTimeline) -> Life:
    opened_at = trail.entries[0].at if trail.entries else case_start(histories).plan.opened_at
    last = histories[-1].events[-1] if histories[-1].events else None
    if last is not None and last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return Life(opened_at, event_time(last), True)
    return Life(opened_at, max(datetime.now(UTC), opened_at), False)


def _instant(text: str) -> datetime:
    """An instant typed or picked: ISO 8601, read as UTC without an offset (the form's
    datetime field sends none, and says UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM:SS)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return INSTANT.validate_python(moment)
    except ValidationError as err:
        raise ValueError("; ".join(e["msg"] for e in err.errors())) from None


@dataclass(frozen=True)
class AsOf:
    """The as-of part of the page: the instant asked for, the case then, or why not."""

    at: datetime
    offset: int
    by: str  # slider, instant, or end (nothing asked)
    found: CaseAsOf | None
    error: str | None


async def _as_of(
    histories: list[WorkflowHistory], life: Life, at: str | None, offset: int | None
) -> tuple[AsOf, int]:
    """The case as of the instant asked for (the datetime field before the slider, the
    end of its life when neither), and the page's status."""
    by = "instant" if at else "slider" if offset is not None else "end"
    try:
        moment = _instant(at) if at else life.at(offset) if offset is not None else life.ends_at
    except ValueError as err:
        return AsOf(life.ends_at, life.seconds, by, None, str(err)), 422
    try:
        found = await case_as_of(histories, moment)
    except NotOpenYet as err:
        return AsOf(moment, 0, by, None, str(err)), 422
    except (CaseNeverOpened, ReplayFailed, HistoryProblem) as err:
        # The rest of the page stands: the verdict says why the history does not replay.
        return AsOf(moment, life.offset(moment), by, None, str(err)), 200
    return AsOf(moment, life.offset(moment), by, found, None), 200


@router.get("/cases/{number}", response_class=HTMLResponse)
async def audit_case(
    request: Request,
    me: WebUser,
    number: CaseNumber,
    at: Annotated[str | None, Query(max_length=40)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    """A case's audit trail: timeline, replay verdict, the case as of an instant, evidence."""
    allow(me, AUDITORS)
    histories = await _histories(request.app.state.temporal, number)
    try:
        trail = timeline(histories)
        title = case_start(histories).details.title
    except DOMAIN_ERRORS as err:
        raise _page_error(err) from None
    life = _life(histories, trail)
    verdict: Verdict = await replay_case(histories)
    as_of, status_code = await _as_of(histories, life, at, offset)
    return page(
        request,
        me,
        "console/audit_case.html",
        status_code,
        number=number,
        title=title,
        trail=trail,
        verdict=verdict,
        life=life,
        as_of=as_of,
        field_value=field_value,
    )


@router.get("/cases/{number}/evidence")
async def evidence(request: Request, me: WebUser, number: CaseNumber) -> Response:
    """The case's evidence file, the one the API's /audit/cases/{n}/evidence gives."""
    allow(me, AUDITORS)
    histories = await _histories(request.app.state.temporal, number)
    try:
        return evidence_response(number, histories, me.user.id)
    except DOMAIN_ERRORS as err:
        raise _page_error(err) from None
