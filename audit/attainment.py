"""SLA attainment per plan, severity, tier, month and clock, from the read model.

Read from `case_events` (the clock facts, `opened`, `tier_escalated`, `severity_changed`)
and `cases` (plan and policy from `view`), not from Temporal, so a year of cases is one
query. The rules, each a choice an auditor should know:

- An outcome is a `clock_met` or `clock_breached` event, attributed to the calendar month
  of that event **in UTC** (the read model does not carry the plan's zone), and to the
  case's severity and tier **at that instant**, replayed from `severity_changed` and
  `tier_escalated` events in sequence order (a tier-1 breach that moves the case to tier 2
  counts in tier 1). Plan and policy version are the case's, frozen when it opened.
- A periodic-update clock is restarted by each public response; the workflow records only
  the new `clock_started`. A restart of an enforced, unbreached clock is counted as met at
  that instant (`renewed` counts these within `met`); a restart of an unenforced one (no
  due instant) counts nothing.
- A `clock_stopped` (met after a breach, an unenforced target, a case closed out of scope)
  is no outcome. A reopened case can meet or breach the same clock again: each outcome
  counts. Clocks still running are not counted.
- Paused time is wall-clock time (not business time) between `clock_paused` and the
  `clock_resumed`, `clock_met`, `clock_stopped` or restart that ends the stretch, summed per
  clock run up to its outcome, and attributed with that outcome; the mean is over outcomes.
- `since` and `until` are UTC dates; an outcome counts when since <= its instant < until.

Beside the outcomes, each plan and month (`plan_months`) has the cases opened under the
plan in that month (their opening instant, in UTC, within the period) and the cases
deflected: a customer of the plan, about to open a case, said a suggested knowledge-base
article solved it (`api.knowledge.deflection_counts`: the plan their organisation had
then, the month of that answer in UTC). The deflection rate is deflected over opened plus
deflected: of the cases customers came to open, the share an article answered.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from html import escape
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, exists, select
from sqlmodel import Session, col

from api.knowledge import deflection_counts
from db.read_model import CaseEventRecord, CaseRecord, utcnow

CLOCK_KINDS = (
    "clock_started",
    "clock_met",
    "clock_breached",
    "clock_paused",
    "clock_resumed",
    "clock_stopped",
    "clock_recomputed",
)
CONTEXT_KINDS = ("opened", "tier_escalated", "severity_changed")
OUTCOME_KINDS = ("clock_met", "clock_breached")


class AttainmentRow(BaseModel):
    """One plan, severity, tier, month and clock."""

    plan: str = Field(description="'<catalog>:<plan>'")
    policy_version: str = Field(description="The catalog's own version field.")
    severity: str
    tier: int
    month: str = Field(description="'YYYY-MM' of the outcomes, in UTC")
    clock: str
    met: int = 0
    breached: int = 0
    renewed: int = Field(default=0, description="Of `met`: periodic updates given in time.")
    attainment: float | None = Field(default=None, description="met / (met + breached)")
    paused_seconds_total: float = 0.0
    paused_seconds_mean: float | None = Field(default=None, description="Per outcome")

    @property
    def outcomes(self) -> int:
        return self.met + self.breached


class PlanMonth(BaseModel):
    """One plan and month: its clock outcomes (every severity, tier and clock together),
    the cases opened, and the cases a knowledge-base article answered instead."""

    plan: str = Field(description="'<catalog>:<plan>'")
    month: str = Field(description="'YYYY-MM', in UTC")
    met: int = Field(default=0, description="The month's rows' `met`, summed")
    breached: int = Field(default=0, description="The month's rows' `breached`, summed")
    attainment: float | None = Field(default=None, description="met / (met + breached)")
    opened: int = Field(default=0, description="Cases opened under the plan in the month")
    deflected: int = Field(
        default=0,
        description="Cases not opened: a customer of the plan said a suggested "
        "knowledge-base article solved the problem",
    )
    deflection_rate: float | None = Field(
        default=None, description="deflected / (opened + deflected)"
    )


class AttainmentReport(BaseModel):
    """SLA attainment over a period, one row per plan, severity, tier, month and clock;
    and per plan and month, the outcomes with the cases opened and deflected."""

    generated_at: datetime
    since: date | None
    until: date | None = Field(description="Exclusive")
    organisation: str | None
    month_zone: Literal["UTC"] = "UTC"
    rows: list[AttainmentRow]
    plan_months: list[PlanMonth] = Field(
        default_factory=list,
        description="Every plan and month with an outcome, an opened case or a deflection",
    )

    def by_plan_and_month(self) -> list[tuple[str, str, int, int]]:
        """(plan, month, met, breached), every clock, severity and tier together."""
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for row in self.rows:
            total = totals[(row.plan, row.month)]
            total[0] += row.met
            total[1] += row.breached
        return [
            (plan, month, met, breached)
            for (plan, month), (met, breached) in sorted(totals.items())
        ]


@dataclass
class _ClockRun:
    """One clock from its start to its outcome."""

    enforced: bool = False
    paused_since: datetime | None = None
    paused_seconds: float = 0.0
    breached: bool = False

    def end_pause(self, at: datetime) -> None:
        if self.paused_since is not None:
            self.paused_seconds += (at - self.paused_since).total_seconds()
            self.paused_since = None


@dataclass
class _Group:
    met: int = 0
    breached: int = 0
    renewed: int = 0
    paused: float = 0.0


@dataclass
class _Case:
    plan: str
    policy_version: str
    severity: str
    tier: int
    runs: dict[str, _ClockRun] = field(default_factory=dict)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def attainment(
    engine: Engine,
    since: date | None = None,
    until: date | None = None,
    organisation: str | None = None,
) -> AttainmentReport:
    """SLA attainment from the read model; see the module docstring for every rule."""
    start, end = _start_of(since), _start_of(until)
    outcome = select(col(CaseEventRecord.case_number)).where(
        col(CaseEventRecord.case_number) == col(CaseRecord.number),
        col(CaseEventRecord.kind).in_(OUTCOME_KINDS),
    )
    if start is not None:
        outcome = outcome.where(col(CaseEventRecord.at) >= start)
    if end is not None:
        outcome = outcome.where(col(CaseEventRecord.at) < end)
    cases_query = select(
        col(CaseRecord.number), col(CaseRecord.tier), col(CaseRecord.severity), col(CaseRecord.view)
    )
    cases_query = cases_query.where(exists(outcome))
    if organisation is not None:
        cases_query = cases_query.where(col(CaseRecord.organisation) == organisation)
    groups: dict[tuple[str, str, str, int, str, str], _Group] = defaultdict(_Group)
    with Session(engine) as session:
        cases = {row.number: row for row in session.execute(cases_query)}
        if cases:
            events_query = (
                select(
                    col(CaseEventRecord.case_number),
                    col(CaseEventRecord.at),
                    col(CaseEventRecord.kind),
                    col(CaseEventRecord.data),
                )
                .where(
                    and_(
                        col(CaseEventRecord.case_number).in_(list(cases)),
                        col(CaseEventRecord.kind).in_(CLOCK_KINDS + CONTEXT_KINDS),
                    )
                )
                .order_by(col(CaseEventRecord.case_number), col(CaseEventRecord.seq))
            )
            events = session.execute(events_query).all()
        else:
            events = []
    by_case: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        by_case[event.case_number].append(event)
    for number, case_events in by_case.items():
        row = cases[number]
        _replay(row.view, row.tier, row.severity, case_events, start, end, groups)
    rows = [_row(key, group) for key, group in sorted(groups.items())]
    deflected = {
        (count.plan, count.month): count.deflected
        for count in deflection_counts(engine, since, until, organisation).rows
    }
    return AttainmentReport(
        generated_at=utcnow(),
        since=since,
        until=until,
        organisation=organisation,
        rows=rows,
        plan_months=_plan_months(rows, _opened(engine, start, end, organisation), deflected),
    )


def _opened(
    engine: Engine, start: datetime | None, end: datetime | None, organisation: str | None
) -> dict[tuple[str, str], int]:
    """Cases opened per plan and month (UTC), since <= opened_at < until."""
    view = col(CaseRecord.view)
    query = select(
        col(CaseRecord.opened_at),
        view[("policy", "catalog_id")].as_string(),
        view["plan_id"].as_string(),
    )
    if start is not None:
        query = query.where(col(CaseRecord.opened_at) >= start)
    if end is not None:
        query = query.where(col(CaseRecord.opened_at) < end)
    if organisation is not None:
        query = query.where(col(CaseRecord.organisation) == organisation)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    with Session(engine) as session:
        for opened_at, catalog, plan in session.execute(query):
            counts[(f"{catalog or '?'}:{plan or '?'}", _utc(opened_at).strftime("%Y-%m"))] += 1
    return counts


def _plan_months(
    rows: list[AttainmentRow],
    opened: dict[tuple[str, str], int],
    deflected: dict[tuple[str, str], int],
) -> list[PlanMonth]:
    outcomes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        total = outcomes[(row.plan, row.month)]
        total[0] += row.met
        total[1] += row.breached
    found = []
    for plan, month in sorted({*outcomes, *opened, *deflected}):
        met, breached = outcomes.get((plan, month), (0, 0))
        came = opened.get((plan, month), 0)
        solved = deflected.get((plan, month), 0)
        found.append(
            PlanMonth(
                plan=plan,
                month=month,
                met=met,
                breached=breached,
                attainment=met / (met + breached) if met + breached else None,
                opened=came,
                deflected=solved,
                deflection_rate=solved / (came + solved) if came + solved else None,
            )
        )
    return found


def _initial(events: Iterable[Any], kind: str, key: str) -> Any:
    """The value before the first change of its kind, or None when it never changed."""
    return next((event.data.get(key) for event in events if event.kind == kind), None)


def _replay(
    view: dict[str, Any],
    tier: int,
    severity: str,
    events: list[Any],
    start: datetime | None,
    end: datetime | None,
    groups: dict[tuple[str, str, str, int, str, str], _Group],
) -> None:
    policy = view.get("policy") or {}
    opened = next((event for event in events if event.kind == "opened"), None)
    case = _Case(
        plan=f"{policy.get('catalog_id', '?')}:{view.get('plan_id', '?')}",
        policy_version=str(policy.get("catalog_version", "?")),
        severity=_initial(events, "severity_changed", "from_severity")
        or (opened.data.get("severity") if opened else None)
        or severity,
        tier=_initial(events, "tier_escalated", "from_tier") or tier,
    )

    def count(clock: str, at: datetime, run: _ClockRun, kind: str) -> None:
        if (start is not None and at < start) or (end is not None and at >= end):
            return
        key = (
            case.plan,
            case.policy_version,
            case.severity,
            case.tier,
            at.strftime("%Y-%m"),
            clock,
        )
        group = groups[key]
        group.paused += run.paused_seconds
        if kind == "breached":
            group.breached += 1
        else:
            group.met += 1
            group.renewed += kind == "renewed"

    for event in events:
        at, data = _utc(event.at), event.data or {}
        match event.kind:
            case "tier_escalated":
                case.tier = int(data.get("to_tier", case.tier))
                continue
            case "severity_changed":
                case.severity = str(data.get("to_severity", case.severity))
                continue
            case "opened":
                continue
        clock = str(data.get("clock", "?"))
        run = case.runs.get(clock)
        match event.kind:
            case "clock_started":
                if run is not None and run.enforced and not run.breached:
                    run.end_pause(at)
                    count(clock, at, run, "renewed")
                case.runs[clock] = _ClockRun(enforced=data.get("due_at") is not None)
            case "clock_paused" if run is not None:
                run.paused_since = at
            case "clock_resumed":
                # A reopened case resumes clocks that had stopped: they run afresh.
                run = case.runs.setdefault(clock, _ClockRun())
                run.end_pause(at)
                run.enforced = data.get("due_at") is not None
            case "clock_recomputed" if run is not None:
                # A paused clock is recomputed without a due instant; only a running one tells.
                if run.paused_since is None:
                    run.enforced = data.get("due_at") is not None
            case "clock_breached" if run is not None:
                run.end_pause(at)
                run.breached = True
                count(clock, at, run, "breached")
            case "clock_met" if run is not None:
                run.end_pause(at)
                count(clock, at, run, "met")
                del case.runs[clock]
            case "clock_stopped" if run is not None:
                del case.runs[clock]


def _row(key: tuple[str, str, str, int, str, str], group: _Group) -> AttainmentRow:
    plan, version, severity, tier, month, clock = key
    outcomes = group.met + group.breached
    return AttainmentRow(
        plan=plan,
        policy_version=version,
        severity=severity,
        tier=tier,
        month=month,
        clock=clock,
        met=group.met,
        breached=group.breached,
        renewed=group.renewed,
        attainment=group.met / outcomes if outcomes else None,
        paused_seconds_total=group.paused,
        paused_seconds_mean=group.paused / outcomes if outcomes else None,
    )


CSV_COLUMNS = (
    "plan",
    "policy_version",
    "severity",
    "tier",
    "month",
    "clock",
    "met",
    "breached",
    "renewed",
    "attainment",
    "paused_seconds_total",
    "paused_seconds_mean",
)
PLAN_CSV_COLUMNS = (
    "plan",
    "month",
    "met",
    "breached",
    "attainment",
    "opened",
    "deflected",
    "deflection_rate",
)


class Table(StrEnum):
    """Which of the report's tables a CSV holds."""

    clocks = "clocks"  # `rows`: per plan, policy version, severity, tier, month and clock
    plans = "plans"  # `plan_months`: per plan and month, with cases opened and deflected


def to_csv(report: AttainmentReport, table: Table = Table.clocks) -> str:
    """One table after a header row: `rows` (one per plan, severity, tier, month and
    clock) or `plan_months` (one per plan and month)."""
    columns: tuple[str, ...]
    rows: list[BaseModel]
    if table is Table.plans:
        columns, rows = PLAN_CSV_COLUMNS, list(report.plan_months)
    else:
        columns, rows = CSV_COLUMNS, list(report.rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = row.model_dump()
        writer.writerow("" if values[name] is None else values[name] for name in columns)
    return out.getvalue()


def to_json(report: AttainmentReport) -> str:
    return report.model_dump_json(indent=2)


BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 260
BAR_WIDTH = 420
TOP = 30


def to_svg(report: AttainmentReport) -> str:
    """Attainment per plan and month as horizontal bars, written by hand."""
    bars = report.by_plan_and_month()
    height = TOP + len(bars) * (BAR_HEIGHT + BAR_GAP) + 30
    width = LABEL_WIDTH + BAR_WIDTH + 140
    axis_x = LABEL_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="SLA attainment per plan and month" '
        'font-family="sans-serif" font-size="13">',
        f'<text x="{axis_x}" y="18" font-weight="bold">Attainment (met / met + breached)</text>',
    ]
    for percent in (0, 50, 75, 90, 100):
        x = axis_x + BAR_WIDTH * percent / 100
        bottom = height - 24
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#ccc" />'
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">'
            f"{percent}%</text>"
        )
    for index, (plan, month, met, breached) in enumerate(bars):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        share = met / (met + breached) if met + breached else 0.0
        label = escape(f"{plan} {month}")
        colour = "#2e7d32" if share >= 0.9 else "#f9a825" if share >= 0.75 else "#c62828"
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 6}" text-anchor="end">{label}</text>'
            f'<rect class="bar" x="{axis_x}" y="{y}" width="{BAR_WIDTH * share:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{colour}">'
            f"<title>{label}: {met} met, {breached} breached</title></rect>"
            f'<text x="{axis_x + BAR_WIDTH * share + 6:.1f}" y="{y + BAR_HEIGHT - 6}">'
            f"{share:.1%} ({met}/{met + breached})</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _table(columns: tuple[str, ...], rows: Iterable[BaseModel]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in columns)
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{escape('' if value is None else _cell(value))}</td>"
            for value in (getattr(row, name) for name in columns)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def to_html(report: AttainmentReport) -> str:
    """A self-contained page: the chart as inline SVG and both tables; no script."""
    period = f"{report.since or 'the beginning'} to {report.until or 'now'} (until exclusive)"
    scope = escape(report.organisation or "all organisations")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SLA attainment</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f0f0f0; }}
</style>
</head>
<body>
<h1>SLA attainment</h1>
<p>{scope}, {escape(period)}; months in {report.month_zone}; generated
{escape(report.generated_at.isoformat())}.</p>
{to_svg(report)}
<h2>Per plan and month, with cases opened and deflected</h2>
<p>Deflected: cases not opened because a customer said a suggested knowledge-base article
solved the problem; the deflection rate is deflected / (opened + deflected).</p>
{_table(PLAN_CSV_COLUMNS, report.plan_months)}
<h2>Per plan, severity, tier, month and clock</h2>
{_table(CSV_COLUMNS, report.rows)}
</body>
</html>
"""


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)
