"""The five shipped catalogs: each seed's published cells and readings, pinned."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from cli.policy import app
from policies.business_time import due_at
from policies.format import CLOCKS, Catalog, CellKind
from policies.loading import CATALOG_DIR, load_catalogs
from policies.plan_ref import PlanRef
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan
from policies.snapshot import Target, TimeBasis

HOUR = 3600
BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")
CST = timezone(timedelta(hours=-6))
OPENED = datetime(2025, 6, 2, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return load_catalogs()


def plan(catalogs, ref: str, opened_at: datetime = OPENED, addons=()) -> PlanSnapshot:
    wanted = PlanRef.parse(ref)
    return resolve_plan(catalogs[wanted.catalog], wanted.plan, opened_at, addons)


def due(snapshot: PlanSnapshot, target: Target, opened_at: datetime) -> datetime:
    assert target.kind == "set" and target.seconds is not None
    return due_at(opened_at, target.seconds, target.basis, snapshot.calendar)


def business(hours: float, text: str) -> Target:
    return Target(kind="set", seconds=int(hours * HOUR), basis=TimeBasis.business, text=text)


UNSET = Target(kind="unset")
NO_COMMITMENT = Target(kind="unset", text="no commitment")
BEST_EFFORT = Target(kind="best_effort", text="best effort")


def test_every_shipped_catalog_loads(catalogs):
    assert sorted(catalogs) == [
        "eu-software-001",
        "officespace",
        "us-software-002",
        "vidizmo",
        "worldscape",
    ]
    assert sorted(path.name for path in CATALOG_DIR.glob("*.yaml")) == [
        f"{catalog_id}.yaml" for catalog_id in sorted(catalogs)
    ]


def test_every_plan_resolves_and_round_trips(catalogs):
    for catalog in catalogs.values():
        for spec in catalog.plans:
            snapshot = resolve_plan(catalog, spec.id, OPENED)
            assert PlanSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot
            assert [row.severity for row in snapshot.targets] == [
                level.id for level in snapshot.severities
            ]


def test_whatever_a_seed_leaves_out_is_said_so(catalogs):
    """An unset value carries a note: on the cell, its row, or the plan's notes."""
    for catalog in catalogs.values():
        for spec in catalog.plans:
            where = f"{catalog.id}:{spec.id}"
            if spec.price is None and not (
                spec.billing and spec.billing.rule == "included_with_subscription"
            ):
                assert "price" in spec.notes, where
            if spec.billing is None:
                assert "billing" in spec.notes, where
            for field in ("incidents_per_month", "escalation", "reopen_window"):
                if getattr(spec, field) is None:
                    assert field in spec.notes, f"{where} {field}"
            for severity in catalog.severities:
                for clock in CLOCKS:
                    cell = spec.cell(severity.id, clock)
                    if cell is None or cell.kind in (CellKind.unset, CellKind.no_commitment):
                        row = spec.targets.get(severity.id)
                        assert (
                            (cell is not None and cell.note)
                            or (row is not None and row.note)
                            or "targets" in spec.notes
                            or "default_targets" in spec.notes
                        ), f"{where} {severity.id} {clock}"


# --------------------------------------------------------------------------- seed 001


def test_001_matrix(catalogs):
    professional = plan(catalogs, "eu-software-001:professional")
    enterprise = plan(catalogs, "eu-software-001:enterprise")
    gold = plan(catalogs, "eu-software-001:gold")

    assert professional.targets_for("sev1").first_response == NO_COMMITMENT
    assert professional.targets_for("sev3").resolution == NO_COMMITMENT
    assert professional.targets_for("sev4").first_response == business(24, "24 business hours")

    assert enterprise.targets_for("sev1").first_response == business(8, "8 business hours")
    assert enterprise.targets_for("sev1").resolution == business(32, "32 business hours")
    assert enterprise.targets_for("sev2").first_response == business(16, "16 business hours")
    assert enterprise.targets_for("sev2").resolution == business(56, "7 business days")
    assert enterprise.targets_for("sev3").first_response == business(24, "24 business hours")
    assert enterprise.targets_for("sev3").resolution == business(112, "14 business days")

    assert gold.targets_for("sev1").first_response == business(8, "8 business hours")
    assert gold.targets_for("sev1").resolution == business(16, "16 business hours")
    assert gold.targets_for("sev2").resolution == business(24, "3 business days")
    assert gold.targets_for("sev3").first_response == business(8, "8 business hours")
    assert gold.targets_for("sev3").resolution == business(56, "7 business days")

    for snapshot in (professional, enterprise, gold):
        sev4 = snapshot.targets_for("sev4")
        assert sev4.first_response == business(24, "24 business hours")
        assert sev4.resolution == BEST_EFFORT
        for row in snapshot.targets:
            assert row.periodic_update == UNSET
            assert row.tier1_target == UNSET
        assert snapshot.escalation == ()
        assert snapshot.reopen_window == UNSET
        assert snapshot.exclusions == ()

    assert [p.incidents_per_month for p in (professional, enterprise, gold)] == [1, 2, 4]


def test_001_prices(catalogs):
    gold = plan(catalogs, "eu-software-001:gold").billing
    assert gold is not None
    assert (gold.rule, gold.amount, gold.currency, gold.period, gold.invoiced) == (
        "flat",
        Decimal("1499.00"),
        "EUR",
        "month",
        "annually",
    )
    for plan_id in ("professional", "enterprise"):
        billing = plan(catalogs, f"eu-software-001:{plan_id}").billing
        assert billing is not None
        assert billing.rule == "included_with_subscription"
        assert billing.amount is None


def test_001_severity_definitions_are_the_seeds(catalogs):
    levels = plan(catalogs, "eu-software-001:gold").severities
    assert [level.name for level in levels] == [
        "Severity 1 (Urgent)",
        "Severity 2 (High)",
        "Severity 3 (Normal)",
        "Severity 4 (Low)",
    ]
    assert levels[0].definition == (
        "Any error reported by the customer where the majority of users of a particular "
        "part of the software are affected. The error has high visibility, there is no "
        "workaround, and the customer's ability to run its business is affected."
    )
    assert levels[2].definition is not None and levels[2].definition.endswith(
        "but it is NOT affecting revenue."
    )
    assert levels[3].definition is not None and levels[3].definition.startswith(
        "Any error reported by the customer where a single user is severely affected"
    )


def test_001_calendar(catalogs):
    calendar = plan(catalogs, "eu-software-001:enterprise").calendar
    assert calendar.zone == "Europe/Berlin"
    assert calendar.business_day_seconds == 8 * HOUR
    assert [len(day) for day in calendar.week] == [1, 1, 1, 1, 1, 0, 0]
    assert calendar.week[0][0].start_second == 9 * HOUR
    assert calendar.week[0][0].end_second == 17 * HOUR
    assert {date(2025, 10, 3), date(2025, 12, 26), date(2025, 4, 18)} <= set(calendar.closed_dates)
    assert date(2025, 11, 1) not in calendar.closed_dates  # All Saints: some states only


def test_001_gold_sev1_opened_friday_afternoon(catalogs):
    opened = datetime(2025, 6, 13, 16, tzinfo=BERLIN)  # Friday 16:00 CEST
    gold = plan(catalogs, "eu-software-001:gold", opened)
    first_response = due(gold, gold.targets_for("sev1").first_response, opened)
    assert first_response == datetime(2025, 6, 16, 16, tzinfo=BERLIN)  # Monday 16:00


def test_001_gold_sev1_across_daylight_saving(catalogs):
    opened = datetime(2025, 3, 28, 16, tzinfo=BERLIN)  # Friday 16:00 CET, UTC+1
    gold = plan(catalogs, "eu-software-001:gold", opened)
    first_response = due(gold, gold.targets_for("sev1").first_response, opened)
    assert first_response == datetime(2025, 3, 31, 16, tzinfo=BERLIN)  # Monday 16:00 CEST
    assert first_response == datetime(2025, 3, 31, 14, tzinfo=UTC)


def test_001_case_opened_on_a_german_public_holiday(catalogs):
    opened = datetime(2025, 10, 3, 10, tzinfo=BERLIN)  # Friday, German Unity Day
    gold = plan(catalogs, "eu-software-001:gold", opened)
    first_response = due(gold, gold.targets_for("sev1").first_response, opened)
    assert first_response == datetime(2025, 10, 6, 17, tzinfo=BERLIN)  # Monday 09:00 + 8 h


def test_001_enterprise_sev2_resolution_skips_whit_monday(catalogs):
    opened = datetime(2025, 6, 2, 9, tzinfo=BERLIN)  # Monday 09:00
    enterprise = plan(catalogs, "eu-software-001:enterprise", opened)
    resolution = due(enterprise, enterprise.targets_for("sev2").resolution, opened)
    # 2-6 June is 5 business days, Monday 9 June is Whit Monday, 10-11 June make 7.
    assert resolution == datetime(2025, 6, 11, 17, tzinfo=BERLIN)


def test_001_gold_weekend_and_holiday_cover(catalogs):
    opened = datetime(2025, 6, 14, 10, tzinfo=BERLIN)  # Saturday 10:00
    plain = plan(catalogs, "eu-software-001:gold", opened)
    covered = plan(catalogs, "eu-software-001:gold", opened, ["weekend-holiday-cover"])
    assert covered.calendar.name == "extended-cover"
    assert covered.calendar.closed_dates == ()
    assert all(len(day) == 1 for day in covered.calendar.week)
    sev1 = covered.targets_for("sev1").first_response
    assert due(covered, sev1, opened) == datetime(2025, 6, 15, 10, tzinfo=BERLIN)  # Sunday
    assert due(plain, sev1, opened) == datetime(2025, 6, 16, 17, tzinfo=BERLIN)  # Monday
    with pytest.raises(ValueError, match="not offered with plan 'enterprise'"):
        plan(catalogs, "eu-software-001:enterprise", opened, ["weekend-holiday-cover"])


# --------------------------------------------------------------------------- seed 002


def test_002_standard(catalogs):
    standard = plan(catalogs, "us-software-002:standard")
    assert standard.calendar.zone == "America/Chicago"
    assert standard.calendar.business_day_seconds == 9 * HOUR
    assert standard.calendar.week[0][0].start_second == 8 * HOUR
    assert standard.calendar.week[4][0].end_second == 17 * HOUR
    assert standard.calendar.week[5] == ()
    assert {date(2025, 7, 4), date(2025, 11, 27), date(2025, 12, 25)} <= set(
        standard.calendar.closed_dates
    )
    for row in standard.targets:
        assert row.first_response == business(9, "1 business day")
        assert row.resolution == UNSET
    assert standard.escalation == ()
    assert standard.channels == ("email",)


def test_002_standard_next_business_day(catalogs):
    opened = datetime(2025, 7, 3, 16, tzinfo=CHICAGO)  # Thursday; Friday 4 July is closed
    standard = plan(catalogs, "us-software-002:standard", opened)
    target = standard.targets_for("high").first_response
    assert due(standard, target, opened) == datetime(2025, 7, 7, 16, tzinfo=CHICAGO)
    saturday = datetime(2025, 7, 12, 9, tzinfo=CHICAGO)
    assert due(standard, target, saturday) == datetime(2025, 7, 14, 17, tzinfo=CHICAGO)


def test_002_enterprise(catalogs):
    enterprise = plan(catalogs, "us-software-002:enterprise")
    assert enterprise.calendar.closed_dates == ()
    assert all(
        [(i.start_second, i.end_second) for i in day] == [(0, 86400)]
        for day in enterprise.calendar.week
    )
    for row in enterprise.targets:
        assert row.first_response == Target(
            kind="set", seconds=1800, basis=TimeBasis.calendar, text="30 minutes"
        )
    christmas = datetime(2025, 12, 25, 3, tzinfo=CHICAGO)
    target = enterprise.targets_for("low").first_response
    assert due(enterprise, target, christmas) == datetime(2025, 12, 25, 3, 30, tzinfo=CHICAGO)


def test_002_escalation_and_exclusions(catalogs):
    enterprise = plan(catalogs, "us-software-002:enterprise")
    assert [(e.level, e.title, e.role) for e in enterprise.escalation] == [
        (1, "Support team lead", "team_lead"),
        (2, "Department manager", "department_manager"),
        (3, "Executive management", "executive"),
    ]
    assert set(enterprise.escalation_triggers) == {"target_missed", "customer_request"}
    for snapshot in (enterprise, plan(catalogs, "us-software-002:standard")):
        assert [e.text for e in snapshot.exclusions] == [
            "Issues caused by third-party software or hardware not supported by us.",
            "Issues caused by customer modifications to our software or infrastructure.",
            "Issues caused by unauthorized access to our systems or customer data.",
        ]
    assert [(s.id, s.name) for s in enterprise.severities] == [
        ("high", "High Priority"),
        ("medium", "Medium Priority"),
        ("low", "Low Priority"),
    ]
    assert enterprise.severity("medium").definition == (
        "The issue is causing significant inconvenience to the customer but is not "
        "preventing business operations."
    )


# --------------------------------------------------------------------------- seed 003


def test_003_response_goals_are_business_hours(catalogs):
    support = plan(catalogs, "officespace:support")
    assert [(row.severity, row.first_response) for row in support.targets] == [
        ("critical", business(2, "2 business hours")),
        ("technical", business(4, "4 business hours")),
        ("basic", business(24, "24 business hours")),
    ]
    assert all(row.resolution == UNSET and row.periodic_update == UNSET for row in support.targets)
    assert [level.starts_in_tier for level in support.severities] == [2, 2, 1]
    assert support.channels == ("phone", "email", "web")


def test_003_closed_only_new_year_and_christmas(catalogs):
    calendar = plan(catalogs, "officespace:support").calendar
    assert calendar.zone == "-06:00"
    assert calendar.business_day_seconds == 17 * HOUR
    assert calendar.closed_dates == tuple(
        date(year, month, 1 if month == 1 else 25)
        for year in range(2024, 2028)
        for month in (1, 12)
    )


def test_003_due_instants(catalogs):
    opened = datetime(2025, 12, 24, 21, 30, tzinfo=CST)  # Wednesday, 30 minutes before close
    support = plan(catalogs, "officespace:support", opened)
    critical = support.targets_for("critical").first_response
    # 30 minutes on Wednesday; Christmas Thursday closed; 90 minutes from Friday 05:00.
    assert due(support, critical, opened) == datetime(2025, 12, 26, 6, 30, tzinfo=CST)
    independence_day = datetime(2025, 7, 4, 5, tzinfo=CST)  # open: not a closure here
    assert due(support, critical, independence_day) == datetime(2025, 7, 4, 7, tzinfo=CST)
    # Fixed UTC-06:00 all year: in July support opens at 06:00 Chicago daylight time.
    assert support.calendar.week[4][0].start_second == 5 * HOUR
    assert independence_day.astimezone(CHICAGO).hour == 6


def test_003_scheduled_outage_notices(catalogs):
    notices = catalogs["officespace"].notices
    assert [(n.kind, n.channels) for n in notices] == [("scheduled_outage", ["email", "web"])]


# --------------------------------------------------------------------------- seed 004


def test_004_tiers_and_plans(catalogs):
    catalog = catalogs["vidizmo"]
    assert [p.id for p in catalog.plans] == ["standard", "premium", "premium-plus"]
    standard = plan(catalogs, "vidizmo:standard")
    assert standard.severity("sev4").starts_in_tier == 1
    assert standard.severity("sev4").definition == "simple and generic how-to questions"
    assert [standard.severity(s).starts_in_tier for s in ("sev1", "sev2", "sev3")] == [2, 2, 2]
    assert [s.name for s in standard.severities] == ["Critical", "High", "Medium", "Severity 4"]
    assert all(getattr(row, clock) == UNSET for row in standard.targets for clock in CLOCKS)
    assert standard.billing is not None
    assert standard.billing.rule == "included_with_subscription"


def test_004_priority_updates_addon(catalogs):
    for plan_id in ("standard", "premium", "premium-plus"):
        assert not plan(catalogs, f"vidizmo:{plan_id}").features.priority_updates
        with_updates = plan(catalogs, f"vidizmo:{plan_id}", addons=["priority-updates"])
        assert with_updates.features.priority_updates
        assert with_updates.addons == ("priority-updates",)


# --------------------------------------------------------------------------- seed 000


def test_000_plans_and_features(catalogs):
    ids = [p.id for p in catalogs["worldscape"].plans]
    assert ids == ["self-service-community", "standard", "premier", "premier-plus"]
    snapshots = {plan_id: plan(catalogs, f"worldscape:{plan_id}") for plan_id in ids}
    for snapshot in snapshots.values():
        assert snapshot.billing is not None
        assert snapshot.billing.rule == "greater_of_fee_or_usage_share"
        assert snapshot.billing.usage_share == Decimal("0.10")
        assert snapshot.billing.amount is None
        assert all(getattr(row, clock) == UNSET for row in snapshot.targets for clock in CLOCKS)
    assert snapshots["standard"].features.root_cause_analysis is None
    rca = snapshots["premier"].features.root_cause_analysis
    assert rca is not None and set(rca.conditions) == {"critical", "recurring"}
    assert rca.critical_severities == ("critical",)
    plus = snapshots["premier-plus"].features
    assert plus.root_cause_analysis == rca
    assert plus.dedicated_engineer and plus.dedicated_channel == "slack"
    assert not snapshots["premier"].features.dedicated_engineer
    notices = catalogs["worldscape"].notices
    assert [n.kind for n in notices] == ["business_continuity"]


# --------------------------------------------------------------------------- policy show

runner = CliRunner()


def show(*args: str):
    return runner.invoke(app, ["show", *args], env={"COLUMNS": "200"})


def test_check_shipped_catalogs():
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 5


def test_show_gold(catalogs):
    result = show("eu-software-001:gold", "--on", "2025-12-01")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "EUR 1499.00 / month; flat fee, invoiced annually" in out
    assert "8 business hours" in out and "best effort" in out
    assert "3 business days (= 24h)" in out
    assert "zone: Europe/Berlin" in out and "CEST" in out  # the zone note
    assert "public holidays of DE" in out
    assert "2025-12-25 Thu  Christmas Day" in out
    assert "weekend-holiday-cover" in out


def test_show_notes_and_unset_cells():
    result = show("eu-software-001:professional", "--on", "2025-01-01")
    assert result.exit_code == 0, result.output
    assert "no commitment [1]" in result.output
    assert "[1] The seed's table shows '\u2013'." in result.output
    assert "—" in result.output


def test_show_escalation_chain():
    result = show("us-software-002:enterprise")
    assert result.exit_code == 0, result.output
    assert "level 1: Support team lead (team_lead)" in result.output
    assert "level 3: Executive management (executive)" in result.output
    assert "30 minutes (calendar)" in result.output
    assert "open on holidays" in result.output


def test_show_unique_plan_id_and_fixed_offset():
    result = show("support", "--on", "2025-12-20")
    assert result.exit_code == 0, result.output
    assert "zone: -06:00" in result.output
    assert "2025-12-25 Thu  Christmas Day" in result.output
    assert "2026-01-01 Thu  New Year's Day" in result.output


def test_show_usage_share():
    result = show("worldscape:premier-plus")
    assert result.exit_code == 0, result.output
    assert "greater of the monthly fee and 10% of the monthly usage cost" in result.output
    assert "dedicated channel: slack" in result.output


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("standard", "in several catalogs"),
        ("platinum", "no plan 'platinum'"),
        ("acme:gold", "no catalog 'acme'"),
        ("eu-software-001:platinum", "has no plan 'platinum'"),
    ],
)
def test_show_refuses_unknown_or_ambiguous_plans(ref, problem):
    result = show(ref)
    assert result.exit_code == 1
    assert problem in result.output
