"""SLA attainment from real case events, written by the real projection into SQLite and
PostgreSQL; the cases are driven through the pure transitions at chosen instants."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from activities.projection import CaseProjection
from audit.attainment import (
    PLAN_CSV_COLUMNS,
    AttainmentReport,
    Table,
    attainment,
    to_csv,
    to_html,
    to_json,
)
from db.knowledge import KbArticle, KbDeflection
from models import transitions
from models.case import CaseEvent, CaseProjected, CaseState
from models.commands import (
    CaseCommand,
    ChangeSeverity,
    CustomerReply,
    EscalateTier,
    ReopenCase,
    RequestInformation,
    ResolveCase,
    RespondPublicly,
)
from tests.builders import AGENT, CUSTOMER, open_case

FAST = "short-sla:fast"
OFFICE = "short-sla:office"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Case:
    """A case driven through the pure transitions, recorded as the workflow records it."""

    def __init__(
        self, projection: CaseProjection, number: int, plan: str, when: str, **details: Any
    ):
        self.projection = projection
        self.state: CaseState
        state, facts = transitions.open_case(open_case(number, plan, at(when), **details), at(when))
        self._record(state, facts, at(when))

    def _record(self, state: CaseState, facts: list[transitions.Fact], now: datetime) -> None:
        seq = state.seq
        events = [
            CaseEvent(seq=seq + i, at=now, **fact.model_dump()) for i, fact in enumerate(facts, 1)
        ]
        self.state = state.model_copy(update={"seq": seq + len(events)})
        view = transitions.view(self.state, now)
        self.projection.project_case(CaseProjected(view=view, events=events))

    def do(self, when: str, command: CaseCommand) -> Case:
        self._record(*transitions.handle(self.state, command, at(when)), at(when))
        return self

    def tick(self, when: str) -> Case:
        state, facts = transitions.tick(self.state, at(when))
        assert facts, f"nothing was due at {when}"
        self._record(state, facts, at(when))
        return self


def drive_cases(engine: Engine) -> None:
    projection = CaseProjection(engine)
    # A: normal severity, tier 1; waits on the customer for two hours across the month end.
    (
        Case(projection, 1, FAST, "2026-10-31T23:00:00", severity="normal")
        .do("2026-10-31T23:20:00", RespondPublicly(actor=AGENT, message="On it."))
        .do("2026-10-31T23:30:00", RequestInformation(actor=AGENT, message="Logs, please?"))
        .do("2026-11-01T01:30:00", CustomerReply(actor=CUSTOMER, message="Attached."))
        .tick("2026-11-01T02:00:00")  # tier-1 target (1 h, 30 min used) runs out: to tier 2
        .do("2026-11-01T02:30:00", ResolveCase(actor=AGENT, summary="Index rebuilt."))
    )
    # B: critical, starts in tier 2; first response breached; moved to tier 3.
    (
        Case(projection, 2, FAST, "2026-11-05T10:00:00", severity="critical")
        .tick("2026-11-05T10:10:00")  # first response (10 min) breached
        .do("2026-11-05T10:20:00", EscalateTier(actor=AGENT, tier=3, reason="Code fix"))
        .do("2026-11-05T10:25:00", RespondPublicly(actor=AGENT, message="Fix under way."))
        .tick("2026-11-05T10:55:00")  # the next periodic update (30 min) breached
        .do(
            "2026-11-05T11:00:00",
            ResolveCase(actor=AGENT, summary="Patched.", root_cause_analysis="A race."),
        )
    )
    # C: another organisation and plan (office hours, no periodic-update target).
    (
        Case(
            projection,
            3,
            OFFICE,
            "2026-12-01T08:00:00",
            severity="critical",
            organisation="globex",
            company_name="Globex",
        )
        .do("2026-12-01T10:00:00", RespondPublicly(actor=AGENT, message="Looking."))
        .do("2026-12-01T12:00:00", ResolveCase(actor=AGENT, summary="Config fixed."))
    )
    # D: raised to critical before the first response, lowered again afterwards; left open.
    (
        Case(projection, 4, FAST, "2026-11-10T09:00:00", severity="normal")
        .do("2026-11-10T09:05:00", ChangeSeverity(actor=AGENT, severity="critical", reason="Down"))
        .do("2026-11-10T09:08:00", RespondPublicly(actor=AGENT, message="Restarting."))
        .do("2026-11-10T09:20:00", ChangeSeverity(actor=AGENT, severity="normal", reason="Up"))
    )


def table(report: AttainmentReport) -> dict[tuple[str, str, int, str, str], tuple[int, int, float]]:
    return {
        (row.plan, row.severity, row.tier, row.month, row.clock): (
            row.met,
            row.breached,
            row.paused_seconds_total,
        )
        for row in report.rows
    }


TWO_HOURS = 7200.0
EXPECTED = {
    # A, October: the first response and two periodic updates (respond, ask) in time.
    (FAST, "normal", 1, "2026-10", "first_response"): (1, 0, 0.0),
    (FAST, "normal", 1, "2026-10", "periodic_update"): (2, 0, 0.0),
    # A, November: tier-1 breach counted in tier 1, where it happened; the rest in tier 2.
    (FAST, "normal", 1, "2026-11", "tier1"): (0, 1, TWO_HOURS),
    (FAST, "normal", 2, "2026-11", "resolution"): (1, 0, TWO_HOURS),
    (FAST, "normal", 2, "2026-11", "periodic_update"): (1, 0, TWO_HOURS),
    # B: breached in tier 2; then in tier 3 an update in time, one late, resolution met.
    (FAST, "critical", 2, "2026-11", "first_response"): (0, 1, 0.0),
    (FAST, "critical", 3, "2026-11", "periodic_update"): (1, 1, 0.0),
    (FAST, "critical", 3, "2026-11", "resolution"): (1, 0, 0.0),
    # D: met while critical, though the case is normal again now; resolution still running.
    (FAST, "critical", 1, "2026-11", "first_response"): (1, 0, 0.0),
    (FAST, "critical", 1, "2026-11", "periodic_update"): (1, 0, 0.0),
    # C: no periodic-update target, so its restart and stop count nothing.
    (OFFICE, "critical", 2, "2026-12", "first_response"): (1, 0, 0.0),
    (OFFICE, "critical", 2, "2026-12", "resolution"): (1, 0, 0.0),
}


def test_outcomes_by_plan_severity_tier_month_and_clock(read_model: Engine) -> None:
    drive_cases(read_model)

    report = attainment(read_model, since=None, until=None)

    assert table(report) == EXPECTED
    assert report.month_zone == "UTC"
    rows = {(r.plan, r.severity, r.tier, r.month, r.clock): r for r in report.rows}
    periodic = rows[(FAST, "critical", 3, "2026-11", "periodic_update")]
    assert (periodic.attainment, periodic.renewed) == (0.5, 1)
    resolution = rows[(FAST, "normal", 2, "2026-11", "resolution")]
    assert (resolution.attainment, resolution.paused_seconds_mean) == (1.0, TWO_HOURS)
    assert {r.policy_version for r in report.rows} == {"test"}


def test_period_and_organisation_filters(read_model: Engine) -> None:
    drive_cases(read_model)

    november = attainment(read_model, since=date(2026, 11, 1), until=date(2026, 12, 1))
    acme = attainment(read_model, since=None, until=None, organisation="acme")
    globex = attainment(read_model, since=None, until=None, organisation="globex")

    assert table(november) == {k: v for k, v in EXPECTED.items() if k[3] == "2026-11"}
    assert table(acme) == {k: v for k, v in EXPECTED.items() if k[0] == FAST}
    assert table(globex) == {k: v for k, v in EXPECTED.items() if k[0] == OFFICE}
    assert attainment(read_model, since=date(2027, 1, 1), until=None).rows == []


def test_csv_reads_back_to_the_same_numbers(read_model: Engine) -> None:
    drive_cases(read_model)
    report = attainment(read_model, since=None, until=None)

    rows = list(csv.DictReader(io.StringIO(to_csv(report))))

    assert len(rows) == len(report.rows) == len(EXPECTED)
    parsed = {
        (r["plan"], r["severity"], int(r["tier"]), r["month"], r["clock"]): (
            int(r["met"]),
            int(r["breached"]),
            float(r["paused_seconds_total"]),
        )
        for r in rows
    }
    assert parsed == EXPECTED
    for row, written in zip(report.rows, rows, strict=True):
        assert float(written["attainment"]) == row.attainment
    assert AttainmentReport.model_validate_json(to_json(report)) == report


def test_html_is_one_page_with_a_bar_per_plan_and_month(read_model: Engine) -> None:
    drive_cases(read_model)
    report = attainment(read_model, since=None, until=None)

    page = to_html(report)

    assert page.count("<svg") == 1
    bars = re.findall(r'<rect class="bar"[^>]*>\s*<title>([^<]*)</title>', page)
    assert bars == [
        "short-sla:fast 2026-10: 3 met, 0 breached",
        "short-sla:fast 2026-11: 6 met, 3 breached",
        "short-sla:office 2026-12: 2 met, 0 breached",
    ]
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', page)]
    assert widths[0] == widths[2] > widths[1] > 0
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    # Both tables, each with its header row: per plan and month, and every row.
    assert page.count("<tr>") == len(report.plan_months) + 1 + len(EXPECTED) + 1
    assert "<th>deflected</th>" in page


def test_json_report_names_its_rules(read_model: Engine) -> None:
    drive_cases(read_model)

    data = json.loads(to_json(attainment(read_model, since=date(2026, 11, 1), until=None)))

    assert (data["since"], data["until"], data["month_zone"]) == ("2026-11-01", None, "UTC")
    assert len(data["rows"]) == len([k for k in EXPECTED if k[3] >= "2026-11"])


def test_a_reopened_case_meets_its_clocks_again(read_model: Engine) -> None:
    (
        Case(CaseProjection(read_model), 5, FAST, "2026-11-20T10:00:00", severity="normal")
        .do("2026-11-20T10:10:00", RespondPublicly(actor=AGENT, message="On it."))
        .do("2026-11-20T10:30:00", ResolveCase(actor=AGENT, summary="Done."))
        .do("2026-11-20T10:40:00", ReopenCase(actor=CUSTOMER, reason="Back again."))
        .do("2026-11-20T11:00:00", RequestInformation(actor=AGENT, message="Which export?"))
        .do("2026-11-20T11:45:00", ResolveCase(actor=AGENT, summary="Done, really."))
    )

    report = attainment(read_model, since=date(2026, 11, 20), until=date(2026, 11, 21))

    assert table(report) == {
        (FAST, "normal", 1, "2026-11", "first_response"): (1, 0, 0.0),
        # respond, resolve; after reopening: ask (a response), resolve while waiting
        (FAST, "normal", 1, "2026-11", "periodic_update"): (4, 0, 2700.0),
        (FAST, "normal", 1, "2026-11", "resolution"): (2, 0, 2700.0),
        (FAST, "normal", 1, "2026-11", "tier1"): (1, 0, 0.0),
    }


def deflect(engine: Engine, *deflections: tuple[str, str, str]) -> None:
    """(organisation, plan, instant) deflections, as the portal's "this solved it"
    records them, of one published article."""
    with Session(engine) as session:
        article = KbArticle(
            slug="exports",
            title="Exports time out",
            category="general",
            visibility="public",
            status="published",
            version=1,
            published_version=1,
            created_by="bob",
        )
        session.add(article)
        session.flush()
        assert article.id is not None
        for organisation, plan, when in deflections:
            session.add(
                KbDeflection(
                    organisation=organisation,
                    plan=plan,
                    article_id=article.id,
                    user_id="ann",
                    query="Exports fail",
                    at=at(when),
                )
            )
        session.commit()


DEFLECTIONS = (
    ("acme", FAST, "2026-11-02T09:00:00"),
    ("acme", FAST, "2026-11-30T23:59:59"),
    ("acme", FAST, "2027-01-05T12:00:00"),  # a month with neither outcomes nor cases
    ("globex", OFFICE, "2026-12-01T07:00:00"),
)


def per_plan(report: AttainmentReport) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {
        (p.plan, p.month): (p.met, p.breached, p.opened, p.deflected) for p in report.plan_months
    }


def test_cases_opened_and_deflected_per_plan_and_month(read_model: Engine) -> None:
    drive_cases(read_model)
    deflect(read_model, *DEFLECTIONS)

    report = attainment(read_model, since=None, until=None)

    assert per_plan(report) == {
        # A opened on 31 October; B and D in November, with two deflections.
        (FAST, "2026-10"): (3, 0, 1, 0),
        (FAST, "2026-11"): (6, 3, 2, 2),
        (OFFICE, "2026-12"): (2, 0, 1, 1),
        (FAST, "2027-01"): (0, 0, 0, 1),
    }
    months = {(p.plan, p.month): p for p in report.plan_months}
    assert months[(FAST, "2026-11")].deflection_rate == 0.5
    assert months[(FAST, "2026-11")].attainment == 6 / 9
    assert (months[(FAST, "2027-01")].attainment, months[(FAST, "2027-01")].deflection_rate) == (
        None,
        1.0,
    )
    # The chart's bars stay those with outcomes.
    assert [(plan, month) for plan, month, *_ in report.by_plan_and_month()] == [
        (FAST, "2026-10"),
        (FAST, "2026-11"),
        (OFFICE, "2026-12"),
    ]


def test_opened_and_deflected_follow_the_period_and_organisation(read_model: Engine) -> None:
    drive_cases(read_model)
    deflect(read_model, *DEFLECTIONS)

    november = attainment(read_model, since=date(2026, 11, 1), until=date(2026, 12, 1))
    globex = attainment(read_model, since=None, until=None, organisation="globex")

    assert per_plan(november) == {(FAST, "2026-11"): (6, 3, 2, 2)}
    assert per_plan(globex) == {(OFFICE, "2026-12"): (2, 0, 1, 1)}


def test_the_plan_table_as_csv_and_json(read_model: Engine) -> None:
    drive_cases(read_model)
    deflect(read_model, *DEFLECTIONS)
    report = attainment(read_model, since=None, until=None)

    rows = list(csv.DictReader(io.StringIO(to_csv(report, Table.plans))))

    assert tuple(rows[0]) == PLAN_CSV_COLUMNS
    assert [
        (r["plan"], r["month"], int(r["opened"]), int(r["deflected"]), r["deflection_rate"])
        for r in rows
    ] == [
        (FAST, "2026-10", 1, 0, "0.0"),
        (FAST, "2026-11", 2, 2, "0.5"),
        (FAST, "2027-01", 0, 1, "1.0"),
        (OFFICE, "2026-12", 1, 1, "0.5"),
    ]
    assert rows[2]["attainment"] == ""  # no outcome that month
    data = json.loads(to_json(report))
    assert data["plan_months"][1] == {
        "plan": FAST,
        "month": "2026-11",
        "met": 6,
        "breached": 3,
        "attainment": 6 / 9,
        "opened": 2,
        "deflected": 2,
        "deflection_rate": 0.5,
    }
