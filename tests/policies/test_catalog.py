import copy
import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
import yaml
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner

from cli.policy import app
from policies import resolution
from policies.business_time import due_at
from policies.format import PolicyError
from policies.loading import CatalogError, CatalogIssue, load_catalog, load_catalogs
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_calendar, resolve_plan
from policies.snapshot import Closure, OpenInterval, Target, TimeBasis

HOUR = 3600
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAY_HOURS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def acme() -> dict:
    """A small valid catalog; tests break one thing in a copy of it."""
    return {
        "id": "acme",
        "name": "Acme",
        "version": "1",
        "calendars": [
            {
                "id": "office",
                "zone": "Europe/Berlin",
                "hours": copy.deepcopy(WEEKDAY_HOURS),
                "holidays": {"country": "DE"},
            },
            {"id": "always", "zone": "UTC", "24x7": True, "include_holidays": True},
        ],
        "severities": [
            {"id": "sev1", "name": "Urgent", "starts_in_tier": 2},
            {"id": "sev2", "name": "Normal", "starts_in_tier": 1},
        ],
        "exclusions": [{"id": "third-party", "text": "Third-party software."}],
        "plans": [
            {
                "id": "basic",
                "name": "Basic",
                "calendar": "office",
                "incidents_per_month": 3,
                "default_targets": {"first_response": "1 business day"},
                "targets": {
                    "sev1": {
                        "first_response": "4 business hours",
                        "resolution": "3 business days",
                        "periodic_update": "PT10S",
                        "tier1_target": "2 business hours",
                    },
                    "sev2": {"resolution": {"value": "best effort", "note": "seed says so"}},
                },
                "exclusions": ["third-party"],
                "escalation": {
                    "triggers": ["customer_request", "target_missed"],
                    "levels": [
                        {"title": "Team lead", "role": "team_lead"},
                        {"title": "Manager", "role": "department_manager"},
                    ],
                },
                "reopen_window": "14 days",
            },
            {
                "id": "gold",
                "name": "Gold",
                "calendar": "office",
                "price": {"amount": "100.00", "currency": "EUR", "period": "month"},
                "billing": {"rule": "flat"},
            },
        ],
        "addons": [{"id": "cover", "name": "Cover", "plans": ["gold"], "calendar": "always"}],
    }


def write(tmp_path: Path, data: dict | str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def issues_of(path: Path) -> list[CatalogIssue]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return caught.value.issues


def only_issue(path: Path) -> CatalogIssue:
    issues = issues_of(path)
    assert len(issues) == 1, issues
    assert issues[0].file == str(path)
    return issues[0]


# --------------------------------------------------------------------------- loading


def test_valid_catalog_loads(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    assert catalog.id == "acme"
    assert [plan.id for plan in catalog.plans] == ["basic", "gold"]
    assert catalog.calendars[1].all_hours


def test_unknown_calendar_reference_names_the_path(tmp_path):
    data = acme()
    data["plans"][1]["calendar"] = "ofice"
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[1].calendar"
    assert "unknown calendar 'ofice'" in issue.message
    assert "did you mean 'office'" in issue.message


def test_bad_duration_names_the_cell(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev1"]["first_response"] = "8 bussiness hours"
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].targets.sev1.first_response"
    assert "cannot read duration '8 bussiness hours'" in issue.message


def test_bad_duration_inside_a_noted_cell(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev2"]["resolution"] = {"value": "3 fortnights", "note": "x"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].targets.sev2.resolution"
    assert "unknown unit 'fortnights'" in issue.message


def test_target_cell_with_unknown_key(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev2"]["resolution"] = {"valeu": "1 hour"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].targets.sev2.resolution"
    assert "unknown keys ['valeu']" in issue.message


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        ("CET", "legacy abbreviation zone"),
        ("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("+15:00", "out of range"),
        ("GMT-6", "unknown time zone"),
        ("Etc/GMT+6", "inverted sign"),
    ],
)
def test_bad_zone(tmp_path, zone, problem):
    data = acme()
    data["calendars"][0]["zone"] = zone
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].zone"
    assert problem in issue.message


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Chicago", "UTC", "-06:00", "+05:30"])
def test_good_zones(tmp_path, zone):
    data = acme()
    data["calendars"][0]["zone"] = zone
    assert load_catalog(write(tmp_path, data)).calendars[0].zone == zone


def test_overlapping_intervals(tmp_path):
    data = acme()
    data["calendars"][0]["hours"]["mon"] = ["12:00-17:00", "09:00-13:00"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].hours.mon"
    assert "'09:00-13:00' overlaps '12:00-17:00'" in issue.message


@pytest.mark.parametrize(
    ("interval", "problem"),
    [
        ("22:00-06:00", "cannot cross midnight"),
        ("09:00-09:00", "ends before it starts"),
        ("09:00-24:30", "from 00:00 to 24:00"),
        ("9 to 5", "expected 'HH:MM-HH:MM'"),
        ("09:61-10:00", "up to 59"),
    ],
)
def test_bad_intervals(tmp_path, interval, problem):
    data = acme()
    data["calendars"][0]["hours"]["tue"] = [interval]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].hours.tue[0]"
    assert problem in issue.message


def test_unquoted_times_are_refused_with_a_hint(tmp_path):
    text = yaml.safe_dump(acme(), sort_keys=False).replace("- 09:00-17:00", "- 17:00", 1)
    issue = only_issue(write(tmp_path, text))
    assert issue.location == "calendars[0].hours.mon[0]"
    assert "quoted text" in issue.message and "1020" in issue.message


def test_several_intervals_a_day_and_24_00(tmp_path):
    data = acme()
    data["calendars"][0]["hours"] = {
        day: ["08:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    data["calendars"][0]["hours"]["sat"] = ["20:00-24:00"]
    data["calendars"][0]["business_day"] = "8 hours"
    catalog = load_catalog(write(tmp_path, data))
    week = catalog.calendars[0].week()
    assert week[0] == (
        OpenInterval(start_second=8 * HOUR, end_second=12 * HOUR),
        OpenInterval(start_second=13 * HOUR, end_second=17 * HOUR),
    )
    assert week[5] == (OpenInterval(start_second=20 * HOUR, end_second=86400),)
    assert week[6] == ()


def test_touching_intervals_merge_in_the_snapshot(tmp_path):
    data = acme()
    data["calendars"][0]["hours"]["mon"] = ["09:00-12:00", "12:00-17:00"]
    catalog = load_catalog(write(tmp_path, data))
    assert catalog.calendars[0].week()[0] == (
        OpenInterval(start_second=9 * HOUR, end_second=17 * HOUR),
    )


def test_business_day_is_required_when_days_differ(tmp_path):
    data = acme()
    data["calendars"][0]["hours"]["fri"] = ["09:00-15:00"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].business_day"
    assert "working days differ in length" in issue.message
    assert "fri 6h" in issue.message

    data["calendars"][0]["business_day"] = "8 hours"
    assert load_catalog(write(tmp_path, data)).calendars[0].business_day_seconds() == 8 * HOUR


def test_business_day_defaults_to_the_working_day(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    assert catalog.calendars[0].business_day_seconds() == 8 * HOUR
    assert catalog.calendars[1].business_day_seconds() == 24 * HOUR


def test_business_day_cannot_be_in_days(tmp_path):
    data = acme()
    data["calendars"][0]["business_day"] = "1 business day"
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].business_day"
    assert "not days" in issue.message


def test_unknown_field_suggests_the_right_one(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev1"]["frist_response"] = "1 hour"
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].targets.sev1.frist_response"
    assert "unknown field 'frist_response'" in issue.message
    assert "did you mean 'first_response'?" in issue.message


def test_unknown_top_level_field(tmp_path):
    data = acme()
    data["plan"] = []
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plan"
    assert "did you mean 'plans'?" in issue.message


def test_unknown_calendar_field_lists_allowed_fields(tmp_path):
    data = acme()
    data["calendars"][0]["timezone"] = "Europe/Berlin"
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].timezone"
    assert "allowed:" in issue.message and "24x7" in issue.message


def test_unknown_severity_in_targets(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev9"] = {"first_response": "1 hour"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].targets.sev9"
    assert "unknown severity 'sev9' (known: sev1, sev2)" in issue.message


def test_unknown_exclusion(tmp_path):
    data = acme()
    data["plans"][0]["exclusions"] = ["third-party", "acts-of-god"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].exclusions[1]"
    assert "unknown exclusion 'acts-of-god'" in issue.message


def test_unknown_plan_and_calendar_in_addon(tmp_path):
    data = acme()
    data["addons"][0]["plans"] = ["platinum"]
    data["addons"][0]["calendar"] = "weekends"
    issues = issues_of(write(tmp_path, data))
    assert [issue.location for issue in issues] == ["addons[0].plans[0]", "addons[0].calendar"]


def test_duplicate_ids(tmp_path):
    data = acme()
    data["severities"][1]["id"] = "sev1"
    del data["plans"][0]["targets"]["sev2"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "severities[1].id"
    assert "duplicate id 'sev1'" in issue.message


def test_missing_required_field(tmp_path):
    data = acme()
    del data["severities"][0]["starts_in_tier"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "severities[0].starts_in_tier"
    assert issue.message == "required field is missing"


def test_tier_must_be_1_2_or_3(tmp_path):
    data = acme()
    data["severities"][0]["starts_in_tier"] = 4
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "severities[0].starts_in_tier"


def test_notes_must_name_fields(tmp_path):
    data = acme()
    data["plans"][0]["notes"] = {"prize": "not published"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0]"
    assert "notes name unknown fields ['prize']" in issue.message


def test_every_problem_is_reported_at_once(tmp_path):
    data = acme()
    data["calendars"][0]["zone"] = "CET"
    data["plans"][0]["targets"]["sev1"]["resolution"] = "soon"
    data["plans"][1]["colour"] = "gold"
    locations = {issue.location for issue in issues_of(write(tmp_path, data))}
    assert locations == {
        "calendars[0].zone",
        "plans[0].targets.sev1.resolution",
        "plans[1].colour",
    }


def test_hours_and_24x7_are_exclusive(tmp_path):
    data = acme()
    data["calendars"][1]["hours"] = copy.deepcopy(WEEKDAY_HOURS)
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[1]"
    assert "either `hours` or `24x7: true`" in issue.message


def test_a_calendar_needs_hours(tmp_path):
    data = acme()
    del data["calendars"][0]["hours"]
    issue = only_issue(write(tmp_path, data))
    assert "give the open `hours`" in issue.message


def test_include_holidays_contradicts_a_holiday_list(tmp_path):
    data = acme()
    data["calendars"][1]["holidays"] = {"country": "US"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[1]"
    assert "include_holidays" in issue.message


@pytest.mark.parametrize(
    ("holidays_spec", "problem"),
    [
        ({"country": "XX"}, "no country 'XX'"),
        ({"country": "DE", "subdivision": "ZZ"}, "DE has no subdivision 'ZZ'"),
    ],
)
def test_unknown_holiday_country(tmp_path, holidays_spec, problem):
    data = acme()
    data["calendars"][0]["holidays"] = holidays_spec
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].holidays"
    assert problem in issue.message


def test_bad_recurring_date(tmp_path):
    data = acme()
    data["calendars"][0]["recurring_closed_dates"] = ["12-25", "02-30"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].recurring_closed_dates[1].day"
    assert "not a day of the year" in issue.message


def test_closure_must_end_after_it_starts(tmp_path):
    data = acme()
    data["calendars"][0]["closures"] = [
        {"start": "2025-06-02T12:00:00", "end": "2025-06-02T10:00:00", "reason": "x"}
    ]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "calendars[0].closures[0]"


def test_greater_of_needs_a_usage_share(tmp_path):
    data = acme()
    data["plans"][1]["billing"] = {"rule": "greater_of_fee_or_usage_share"}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[1].billing"
    assert "usage_share" in issue.message


@pytest.mark.parametrize("share", ["10", "0.1", "150%", "ten%"])
def test_usage_share_is_a_percentage(tmp_path, share):
    data = acme()
    data["plans"][1]["billing"] = {"rule": "greater_of_fee_or_usage_share", "usage_share": share}
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[1].billing.usage_share"


def test_incidents_per_month(tmp_path):
    data = acme()
    data["plans"][0]["incidents_per_month"] = 0
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].incidents_per_month"
    data["plans"][0]["incidents_per_month"] = "unlimited"
    assert load_catalog(write(tmp_path, data)).plans[0].incidents_per_month == "unlimited"


def test_unknown_channel(tmp_path):
    data = acme()
    data["plans"][0]["channels"] = ["email", "pigeon"]
    issue = only_issue(write(tmp_path, data))
    assert issue.location == "plans[0].channels[1]"


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, "id: acme\nplans: [\n  - id: x\n")
    issue = only_issue(path)
    assert issue.location.startswith("line ")
    assert issue.message.startswith("YAML:")


def test_repeated_yaml_key_is_an_error(tmp_path):
    text = yaml.safe_dump(acme(), sort_keys=False)
    text = text.replace("  name: Basic\n", "  name: Basic\n  name: Other\n", 1)
    issue = only_issue(write(tmp_path, text))
    assert issue.location.startswith("line ")
    assert "'name' appears twice" in issue.message


def test_yaml_merge_keys_still_work(tmp_path):
    text = """
id: acme
name: Acme
version: "1"
calendars:
  - {id: office, zone: UTC, 24x7: true}
severities:
  - {id: sev1, name: Urgent, starts_in_tier: 1}
plans:
  - id: a
    name: A
    calendar: office
    notes: &common
      price: not published
      billing: not published
  - id: b
    name: B
    calendar: office
    notes:
      <<: *common
      billing: overridden
"""
    catalog = load_catalog(write(tmp_path, text))
    assert catalog.plans[1].notes == {"price": "not published", "billing": "overridden"}


def test_top_level_must_be_a_mapping(tmp_path):
    issue = only_issue(write(tmp_path, "- just\n- a list\n"))
    assert issue.location == "(top level)"


def test_missing_file(tmp_path):
    issue = only_issue(tmp_path / "absent.yaml")
    assert "cannot read" in issue.message


def test_load_catalogs_reports_every_file(tmp_path):
    write(tmp_path, acme(), "a.yaml")
    bad = acme()
    bad["id"] = "other"
    bad["plans"][0]["calendar"] = "nowhere"
    write(tmp_path, bad, "b.yaml")
    same_id = acme()
    write(tmp_path, same_id, "c.yaml")
    with pytest.raises(CatalogError) as caught:
        load_catalogs(tmp_path)
    found = {(Path(issue.file).name, issue.location) for issue in caught.value.issues}
    assert found == {("b.yaml", "plans[0].calendar"), ("c.yaml", "id")}


def test_load_catalogs_keys_by_id(tmp_path):
    write(tmp_path, acme(), "a.yaml")
    assert list(load_catalogs(tmp_path)) == ["acme"]


def test_digest_is_the_files_sha256(tmp_path):
    path = write(tmp_path, acme())
    catalog = load_catalog(path)
    assert catalog.digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert catalog.path == path
    path.write_text(path.read_text() + "# a comment changes the version\n")
    assert load_catalog(path).digest != catalog.digest


# --------------------------------------------------------------------------- resolution


def test_resolve_calendar_resolves_holidays_explicit_and_recurring_dates(tmp_path):
    data = acme()
    data["calendars"][0]["closed_dates"] = [date(2025, 12, 24), {"day": date(2031, 1, 2)}]
    data["calendars"][0]["recurring_closed_dates"] = [{"day": "12-31", "name": "New Year's Eve"}]
    spec = load_catalog(write(tmp_path, data)).calendars[0]
    snapshot = resolve_calendar(spec, 2025, 2026)
    assert snapshot.first_year == 2025 and snapshot.last_year == 2026
    closed = set(snapshot.closed_dates)
    assert {date(2025, 10, 3), date(2026, 10, 3), date(2025, 6, 9)} <= closed  # DE holidays
    assert {date(2025, 12, 24), date(2025, 12, 31), date(2026, 12, 31)} <= closed
    assert date(2031, 1, 2) not in closed  # outside the year range
    assert list(snapshot.closed_dates) == sorted(snapshot.closed_dates)
    assert snapshot.business_day_seconds == 8 * HOUR
    assert snapshot.zone == "Europe/Berlin"
    assert len(snapshot.week) == 7 and snapshot.week[5] == ()


def test_recurring_feb_29_only_in_leap_years(tmp_path):
    data = acme()
    data["calendars"][1] = {"id": "always", "zone": "UTC", "24x7": True}
    data["calendars"][1]["recurring_closed_dates"] = ["02-29"]
    spec = load_catalog(write(tmp_path, data)).calendars[1]
    assert resolve_calendar(spec, 2023, 2025).closed_dates == (date(2024, 2, 29),)


def test_closures_become_utc(tmp_path):
    data = acme()
    data["calendars"][0]["closures"] = [
        {"start": "2025-06-02T10:00:00", "end": "2025-06-02T12:00:00", "reason": "local"},
        {"start": "2025-06-03T08:00:00Z", "end": "2025-06-03T09:00:00Z", "reason": "utc"},
        {"start": "2025-06-04 10:00:00-05:00", "end": "2025-06-04 11:00:00-05:00", "reason": "c"},
    ]
    spec = load_catalog(write(tmp_path, data)).calendars[0]
    closures = resolve_calendar(spec, 2025, 2025).closures
    assert closures == (
        Closure(
            start=datetime(2025, 6, 2, 8, tzinfo=UTC),
            end=datetime(2025, 6, 2, 10, tzinfo=UTC),
            reason="local",
        ),
        Closure(
            start=datetime(2025, 6, 3, 8, tzinfo=UTC),
            end=datetime(2025, 6, 3, 9, tzinfo=UTC),
            reason="utc",
        ),
        Closure(
            start=datetime(2025, 6, 4, 15, tzinfo=UTC),
            end=datetime(2025, 6, 4, 16, tzinfo=UTC),
            reason="c",
        ),
    )


def test_fixed_offset_closures(tmp_path):
    data = acme()
    data["calendars"][0]["zone"] = "-06:00"
    data["calendars"][0]["closures"] = [
        {"start": "2025-07-01T10:00:00", "end": "2025-07-01T11:00:00", "reason": "outage"}
    ]
    spec = load_catalog(write(tmp_path, data)).calendars[0]
    assert resolve_calendar(spec, 2025, 2025).closures[0].start == datetime(
        2025, 7, 1, 16, tzinfo=UTC
    )


def test_resolve_plan(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    opened = datetime(2025, 6, 2, 9, tzinfo=BERLIN)
    snapshot = resolve_plan(catalog, "basic", opened)
    assert snapshot.source.catalog_id == "acme"
    assert snapshot.source.catalog_digest == catalog.digest
    assert snapshot.opened_at == datetime(2025, 6, 2, 7, tzinfo=UTC)
    assert (snapshot.calendar.first_year, snapshot.calendar.last_year) == (2024, 2027)
    sev1 = snapshot.targets_for("sev1")
    assert sev1.first_response == Target(
        kind="set", seconds=4 * HOUR, basis=TimeBasis.business, text="4 business hours"
    )
    assert sev1.resolution.seconds == 24 * HOUR  # 3 business days of 8 hours
    assert sev1.periodic_update == Target(
        kind="set", seconds=10, basis=TimeBasis.calendar, text="PT10S"
    )
    assert sev1.tier1_target.seconds == 2 * HOUR
    sev2 = snapshot.targets_for("sev2")
    assert sev2.first_response.seconds == 8 * HOUR  # from default_targets
    assert sev2.resolution == Target(kind="best_effort", text="best effort")
    assert sev2.periodic_update == Target(kind="unset")
    assert [level.starts_in_tier for level in snapshot.severities] == [2, 1]
    assert [level.rank for level in snapshot.severities] == [1, 2]
    assert [level.role for level in snapshot.escalation] == ["team_lead", "department_manager"]
    assert [level.level for level in snapshot.escalation] == [1, 2]
    assert snapshot.escalation_triggers == ("customer_request", "target_missed")
    assert snapshot.reopen_window == Target(
        kind="set", seconds=14 * 24 * HOUR, basis=TimeBasis.calendar, text="14 days"
    )
    assert snapshot.incidents_per_month == 3
    assert snapshot.exclusion("third-party").text == "Third-party software."
    assert snapshot.billing is None


def test_addon_switches_the_calendar(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    opened = datetime(2025, 6, 7, 10, tzinfo=BERLIN)  # a Saturday
    plain = resolve_plan(catalog, "gold", opened)
    covered = resolve_plan(catalog, "gold", opened, addons=["cover"])
    assert plain.calendar.name == "office" and covered.calendar.name == "always"
    assert covered.addons == ("cover",)
    assert covered.calendar.closed_dates == ()


def test_resolve_plan_refusals(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    opened = datetime(2025, 6, 2, 9, tzinfo=UTC)
    with pytest.raises(PolicyError, match="no plan 'platinum' \\(known: basic, gold\\)"):
        resolve_plan(catalog, "platinum", opened)
    with pytest.raises(PolicyError, match="not offered with plan 'basic'"):
        resolve_plan(catalog, "basic", opened, addons=["cover"])
    with pytest.raises(PolicyError, match="no add-on 'nope'"):
        resolve_plan(catalog, "gold", opened, addons=["nope"])
    with pytest.raises(PolicyError, match="named twice"):
        resolve_plan(catalog, "gold", opened, addons=["cover", "cover"])
    with pytest.raises(PolicyError, match="timezone-aware"):
        resolve_plan(catalog, "gold", datetime(2025, 6, 2, 9))


def test_snapshot_round_trips_through_json_and_the_temporal_converter(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    data = acme()
    snapshot = resolve_plan(catalog, "gold", datetime(2025, 6, 2, 9, tzinfo=UTC), ["cover"])
    assert PlanSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([snapshot])
    assert converter.from_payloads(payloads, [PlanSnapshot]) == [snapshot]
    assert data  # the catalog dict is untouched


def test_snapshot_is_frozen_and_hashable(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    snapshot = resolve_plan(catalog, "basic", datetime(2025, 6, 2, 9, tzinfo=UTC))
    with pytest.raises(ValueError):
        snapshot.plan_id = "gold"  # type: ignore[misc]
    assert hash(snapshot) == hash(PlanSnapshot.model_validate_json(snapshot.model_dump_json()))


def test_snapshot_does_not_follow_later_holiday_changes(tmp_path, monkeypatch):
    catalog = load_catalog(write(tmp_path, acme()))
    opened = datetime(2025, 10, 2, 16, tzinfo=BERLIN)  # Thursday before German Unity Day
    stored = resolve_plan(catalog, "basic", opened).model_dump_json()

    # The holidays package (or the catalog's country) changes: no holidays any more.
    monkeypatch.setattr(
        resolution.holidays,
        "country_holidays",
        lambda *args, **kwargs: holidays.HolidayBase(),
    )
    fresh = resolve_plan(catalog, "basic", opened)
    assert date(2025, 10, 3) not in fresh.calendar.closed_dates  # the patch took effect

    snapshot = PlanSnapshot.model_validate_json(stored)
    assert date(2025, 10, 3) in snapshot.calendar.closed_dates
    target = snapshot.targets_for("sev1").first_response  # 4 business hours
    due = due_at(opened, target.seconds or 0, target.basis, snapshot.calendar)
    # 1 hour on Thursday, Friday 3 October closed, 3 hours on Monday.
    assert due == datetime(2025, 10, 6, 12, tzinfo=BERLIN)
    fresh_target = fresh.targets_for("sev1").first_response
    assert due_at(opened, fresh_target.seconds or 0, fresh_target.basis, fresh.calendar) == (
        datetime(2025, 10, 3, 12, tzinfo=BERLIN)
    )


def test_snapshot_holidays_cover_the_years_around_opening(tmp_path):
    catalog = load_catalog(write(tmp_path, acme()))
    snapshot = resolve_plan(catalog, "basic", datetime(2025, 12, 31, 23, tzinfo=UTC))
    years = {day.year for day in snapshot.calendar.closed_dates}
    assert years == {2024, 2025, 2026, 2027}
    assert snapshot.calendar.closed_dates[0] == date(2024, 1, 1)
    assert snapshot.calendar.closed_dates[-1] == date(2027, 12, 26)


# --------------------------------------------------------------------------- `policy check`

runner = CliRunner()


def test_check_ok_per_file(tmp_path):
    write(tmp_path, acme(), "a.yaml")
    other = acme()
    other["id"] = "other"
    write(tmp_path, other, "b.yaml")
    result = runner.invoke(app, ["check", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 2
    assert "a.yaml" in result.output and "b.yaml" in result.output


def test_check_a_single_file_with_errors_exits_1(tmp_path):
    data = acme()
    data["plans"][0]["targets"]["sev1"]["first_response"] = "8 bussiness hours"
    data["plans"][1]["colour"] = "gold"
    path = write(tmp_path, data)
    result = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 2
    assert f"{path}: plans[0].targets.sev1.first_response: cannot read duration" in lines[0]
    assert f"{path}: plans[1].colour: unknown field 'colour'" in lines[1]


def test_check_reports_reference_errors(tmp_path):
    data = acme()
    data["plans"][1]["calendar"] = "ofice"
    path = write(tmp_path, data)
    result = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"ERROR {path}: plans[1].calendar: unknown calendar 'ofice'" in result.output


def test_check_reports_duplicate_catalog_ids(tmp_path):
    write(tmp_path, acme(), "a.yaml")
    write(tmp_path, acme(), "b.yaml")
    result = runner.invoke(app, ["check", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "b.yaml: id: catalog id 'acme' is also used by" in result.output


def test_check_empty_directory(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no *.yaml catalogs" in result.output
