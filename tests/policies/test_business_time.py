"""Business-time engine: pinned examples and property tests against the brute-force oracle."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import business_time
from policies.business_time import (
    BusinessCalendar,
    compile_calendar,
    due_at,
    elapsed_seconds,
    parse_zone,
)
from policies.snapshot import CalendarSnapshot, TimeBasis
from tests.policies.oracle import (
    EVERY_DAY,
    Oracle,
    epoch_ceil,
    make_calendar,
    standard_calendars,
    utc,
    week,
)

BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")
HOUR = 3600
HOUR_DELTA = timedelta(hours=1)

CALENDARS: dict[str, CalendarSnapshot] = {
    **standard_calendars(),
    "plus_one_9_17": make_calendar("+01:00", week([("09:00", "17:00")]), name="plus_one"),
    "minus_six_split": make_calendar(
        "-06:00", week([("00:00", "02:30"), ("20:00", "24:00")], EVERY_DAY), name="minus_six"
    ),
    "berlin_9_17_closures": make_calendar(
        "Europe/Berlin",
        week([("09:00", "17:00")]),
        "DE",
        closures=[
            (datetime(2026, 3, 27, 12, 0, tzinfo=UTC), datetime(2026, 3, 30, 8, 30, tzinfo=UTC)),
            (datetime(2026, 10, 23, 14, 1, tzinfo=UTC), datetime(2026, 10, 23, 14, 2, tzinfo=UTC)),
            (
                datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN),
                datetime(2026, 12, 3, 0, 0, tzinfo=BERLIN),
            ),
        ],
        name="berlin_closures",
    ),
}
ORACLES = {name: Oracle(snapshot) for name, snapshot in CALENDARS.items()}

# Days on which the calendars' zones switch offset, and holidays: where bugs live.
SWITCH_DAYS = [
    date(2025, 3, 9),
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2025, 11, 2),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2027, 3, 14),
    date(2027, 3, 28),
    date(2027, 10, 31),
    date(2027, 11, 7),
]
ANCHORS = [
    *SWITCH_DAYS,
    date(2025, 12, 24),
    date(2026, 4, 2),
    date(2026, 7, 3),
    date(2026, 11, 26),
    date(2026, 12, 31),
]
START_ZONES: list[tzinfo] = [
    UTC,
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("America/Sao_Paulo"),
    BERLIN,
    CHICAGO,
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=-9, minutes=-30)),
]
FIRST = epoch_ceil(datetime(2025, 1, 1, tzinfo=UTC))
LAST = epoch_ceil(datetime(2028, 1, 1, tzinfo=UTC))

ORACLE_SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def at(
    zone: tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def calendar(name: str) -> BusinessCalendar:
    return compile_calendar(CALENDARS[name])


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Minute-aligned instants near DST switches and holidays or anywhere in 2025-2027,
    sometimes with odd seconds, given in assorted zones."""
    if draw(st.booleans()):
        anchor = draw(st.sampled_from(ANCHORS))
        midnight = epoch_ceil(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC))
        epoch = midnight + 60 * draw(st.integers(-4 * 1440, 2 * 1440))
    else:
        epoch = 60 * draw(st.integers(FIRST // 60, LAST // 60))
    epoch += draw(st.sampled_from([0, 0, 0, 1, 59, 17]))
    instant = utc(epoch).astimezone(draw(st.sampled_from(START_ZONES)))
    if draw(st.integers(0, 9)) == 0:
        instant = instant.replace(microsecond=draw(st.integers(1, 999_999)))
    return instant


def durations(business_day: int) -> st.SearchStrategy[int]:
    """0 s to ten business days, with whole hours and days over-represented, as they
    tend to land exactly on closing time."""
    return st.one_of(
        st.integers(0, 3 * HOUR),
        st.integers(0, 10 * business_day),
        st.integers(0, 80).map(lambda hours: hours * HOUR),
        st.integers(0, 10).map(lambda days: days * business_day),
    )


# Property tests against the oracle ------------------------------------------------------


@pytest.mark.parametrize("name", list(CALENDARS))
@ORACLE_SETTINGS
@given(data=st.data())
def test_due_matches_oracle(name: str, data: st.DataObject) -> None:
    start = data.draw(instants(), label="start")
    seconds = data.draw(durations(CALENDARS[name].business_day_seconds), label="seconds")
    got = calendar(name).due(start, seconds)
    assert got.tzinfo is UTC
    assert epoch_ceil(got) == ORACLES[name].due(start, seconds), got


@pytest.mark.parametrize("name", list(CALENDARS))
@ORACLE_SETTINGS
@given(data=st.data())
def test_elapsed_matches_oracle(name: str, data: st.DataObject) -> None:
    a = data.draw(instants(), label="a")
    span = data.draw(st.integers(-HOUR, 14 * 86400), label="span")
    b = (a + timedelta(seconds=span)).astimezone(data.draw(st.sampled_from(START_ZONES)))
    assert calendar(name).elapsed(a, b) == ORACLES[name].elapsed(a, b)


@pytest.mark.parametrize("name", list(CALENDARS))
@settings(max_examples=200, derandomize=True, deadline=None)
@given(data=st.data())
def test_is_open_and_next_open_match_oracle(name: str, data: st.DataObject) -> None:
    instant = data.draw(instants(), label="instant")
    oracle, engine = ORACLES[name], calendar(name)
    second = epoch_ceil(instant.replace(microsecond=0))
    assert engine.is_open(instant) == oracle.is_open(second)
    nxt = engine.next_open(instant)
    if oracle.is_open(second):
        # Subtract rather than compare: datetimes inside a fold never compare equal
        # to datetimes in another zone (PEP 495).
        assert nxt - instant == timedelta(0)
    else:
        assert oracle.is_open(epoch_ceil(nxt))
        assert epoch_ceil(nxt) == oracle.due(instant, 1) - 1


@pytest.mark.parametrize("name", list(CALENDARS))
@settings(max_examples=300, derandomize=True, deadline=None)
@given(data=st.data())
def test_due_is_earliest_instant_with_enough_elapsed(name: str, data: st.DataObject) -> None:
    start = data.draw(instants(), label="start")
    seconds = data.draw(st.integers(0, 30 * CALENDARS[name].business_day_seconds))
    engine = calendar(name)
    got = engine.due(start, seconds)
    assert got >= start
    assert engine.elapsed(start, got) == seconds
    if seconds:
        assert engine.elapsed(start, got - timedelta(seconds=1)) == seconds - 1


# Offset changes late on 31 December ------------------------------------------------------

# Zones whose offset changed between 21:00 and 24:00 UTC on 31 December of these years,
# where the engine's per-UTC-year zone scan once missed them: a gap across local
# midnight (Tripoli 1958, Nairobi's quarter hour in 1936), a fold (Tripoli's other
# years), and a fold inside 31 December's last local hour (Casablanca 1985).
YEAR_END_SWITCHES: dict[str, tuple[int, ...]] = {
    "Africa/Tripoli": (1951, 1953, 1955, 1958, 1981),
    "Africa/Casablanca": (1985,),
    "Africa/Nairobi": (1936,),
}


def _year_end_calendars() -> dict[str, CalendarSnapshot]:
    calendars: dict[str, CalendarSnapshot] = {}
    for zone, years in YEAR_END_SWITCHES.items():
        span = range(years[0] - 1, years[-1] + 2)
        # Short intervals around local midnight, so that an offset wrong by even a
        # quarter of an hour moves a boundary the oracle sees.
        calendars[f"{zone} around midnight"] = make_calendar(
            zone,
            week(
                [("00:00", "00:40"), ("01:20", "02:00"), ("21:30", "22:10"), ("22:50", "23:30")],
                EVERY_DAY,
            ),
            years=span,
        )
        calendars[f"{zone} 24x7, 1 January closed"] = make_calendar(
            zone,
            week([("00:00", "24:00")], EVERY_DAY),
            years=span,
            closed_dates=[date(year + 1, 1, 1) for year in years],
        )
    return calendars


YEAR_END_CALENDARS = _year_end_calendars()
YEAR_END_ORACLES = {name: Oracle(snapshot) for name, snapshot in YEAR_END_CALENDARS.items()}


@st.composite
def year_end_instants(draw: st.DrawFn, zone: str) -> datetime:
    """Minute-aligned instants within two days of the end of a year in which `zone`
    switched offset late on 31 December, most of them within hours of the switch,
    sometimes with odd seconds, given in assorted zones."""
    year = draw(st.sampled_from(YEAR_END_SWITCHES[zone]))
    midnight = epoch_ceil(datetime(year + 1, 1, 1, tzinfo=UTC))
    minutes = st.one_of(
        st.integers(-180, 0), st.integers(-12 * 60, 6 * 60), st.integers(-2 * 1440, 2 * 1440)
    )
    epoch = midnight + 60 * draw(minutes)
    epoch += draw(st.sampled_from([0, 0, 0, 1, 59, 17]))
    shown_in = draw(st.sampled_from([*START_ZONES, ZoneInfo(zone)]))
    instant = utc(epoch).astimezone(shown_in)
    if draw(st.integers(0, 9)) == 0:
        instant = instant.replace(microsecond=draw(st.integers(1, 999_999)))
    return instant


def _zone_of(name: str) -> str:
    return name.split(" ", 1)[0]


@pytest.mark.parametrize("name", list(YEAR_END_CALENDARS))
@ORACLE_SETTINGS
@given(data=st.data())
def test_due_matches_oracle_across_year_end_offset_changes(name: str, data: st.DataObject) -> None:
    start = data.draw(year_end_instants(_zone_of(name)), label="start")
    seconds = data.draw(durations(YEAR_END_CALENDARS[name].business_day_seconds), label="seconds")
    got = compile_calendar(YEAR_END_CALENDARS[name]).due(start, seconds)
    assert epoch_ceil(got) == YEAR_END_ORACLES[name].due(start, seconds), got


@pytest.mark.parametrize("name", list(YEAR_END_CALENDARS))
@ORACLE_SETTINGS
@given(data=st.data())
def test_elapsed_and_is_open_match_oracle_across_year_end_offset_changes(
    name: str, data: st.DataObject
) -> None:
    engine, oracle = compile_calendar(YEAR_END_CALENDARS[name]), YEAR_END_ORACLES[name]
    a = data.draw(year_end_instants(_zone_of(name)), label="a")
    span = st.one_of(st.integers(-HOUR, 3 * 86400), st.integers(0, 72).map(lambda h: h * HOUR))
    b = a + timedelta(seconds=data.draw(span, label="span"))
    assert engine.elapsed(a, b) == oracle.elapsed(a, b)
    assert engine.is_open(a) == oracle.is_open(epoch_ceil(a.replace(microsecond=0)))


def test_year_end_switches_are_really_late_on_31_december() -> None:
    def switches(zone: str, year: int) -> bool:
        evening = datetime(year, 12, 31, 21, tzinfo=UTC)
        offsets = {
            (evening + timedelta(minutes=m)).astimezone(ZoneInfo(zone)).utcoffset()
            for m in range(0, 180, 15)
        }
        return len(offsets) > 1

    for zone, years in YEAR_END_SWITCHES.items():
        assert [year for year in years if switches(zone, year)] == list(years), zone


# Pinned examples --------------------------------------------------------------------------


def test_monday_0900_plus_8h_ends_monday_1700_not_tuesday() -> None:
    due = calendar("berlin_9_17_de").due(at(BERLIN, 2026, 3, 2, 9), 8 * HOUR)
    assert due == at(BERLIN, 2026, 3, 2, 17)


def test_friday_1600_plus_8h_is_monday_1600_across_spring_forward() -> None:
    due = calendar("berlin_9_17_de").due(at(BERLIN, 2025, 3, 28, 16), 8 * HOUR)
    assert due == at(BERLIN, 2025, 3, 31, 16)
    assert due == at(UTC, 2025, 3, 31, 14)


def test_offset_change_late_on_31_december_is_seen() -> None:
    # Tripoli went from +02:00 to +01:00 at 22:00 UTC on 1981-12-31, so 1 January's
    # 00:00-02:00 is 23:00 to 01:00 UTC; the first hour of it ends at midnight UTC.
    snapshot = make_calendar(
        "Africa/Tripoli", week([("00:00", "02:00")], EVERY_DAY), years=range(1980, 1984)
    )
    start = at(UTC, 1981, 12, 31, 20, 30)
    assert Oracle(snapshot).due(start, HOUR) == epoch_ceil(at(UTC, 1982, 1, 1))
    assert BusinessCalendar(snapshot).due(start, HOUR) == at(UTC, 1982, 1, 1)
    assert due_at(start, HOUR, TimeBasis.business, snapshot) == at(UTC, 1982, 1, 1)


def test_holidays_are_skipped() -> None:
    # Christmas Eve is a working day in Germany; 25 and 26 December are not.
    due = calendar("berlin_9_17_de").due(at(BERLIN, 2025, 12, 24, 16), 2 * HOUR)
    assert due == at(BERLIN, 2025, 12, 29, 10)
    # Thanksgiving in the US.
    due = calendar("chicago_8_17_us").due(at(CHICAGO, 2026, 11, 25, 16), 2 * HOUR)
    assert due == at(CHICAGO, 2026, 11, 27, 9)


def test_24x7_over_spring_forward_has_a_23_hour_day() -> None:
    due = calendar("berlin_24x7").due(at(BERLIN, 2025, 3, 29, 12), 24 * HOUR)
    assert due == at(BERLIN, 2025, 3, 30, 13)


def test_24x7_fold_day_lasts_25_hours() -> None:
    engine = calendar("berlin_24x7")
    assert engine.elapsed(at(BERLIN, 2025, 10, 26), at(BERLIN, 2025, 10, 27)) == 25 * HOUR
    chicago = calendar("chicago_24x7")
    assert chicago.elapsed(at(CHICAGO, 2025, 11, 2), at(CHICAGO, 2025, 11, 3)) == 25 * HOUR
    assert chicago.elapsed(at(CHICAGO, 2025, 3, 9), at(CHICAGO, 2025, 3, 10)) == 23 * HOUR


def test_interval_covering_the_repeated_hour_counts_both_occurrences() -> None:
    engine = compile_calendar(make_calendar("Europe/Berlin", week([("01:00", "04:00")], EVERY_DAY)))
    fall_back = engine.elapsed(at(BERLIN, 2025, 10, 26), at(BERLIN, 2025, 10, 27))
    spring_forward = engine.elapsed(at(BERLIN, 2025, 3, 30), at(BERLIN, 2025, 3, 31))
    ordinary = engine.elapsed(at(BERLIN, 2025, 3, 31), at(BERLIN, 2025, 4, 1))
    assert (fall_back, spring_forward, ordinary) == (4 * HOUR, 2 * HOUR, 3 * HOUR)


def test_hours_inside_the_spring_forward_gap_never_occur() -> None:
    engine = compile_calendar(make_calendar("Europe/Berlin", week([("02:00", "03:00")], EVERY_DAY)))
    # 2025-03-30 has no 02:00-03:00, so one hour from Saturday 03:00 ends Monday 03:00.
    due = engine.due(at(BERLIN, 2025, 3, 29, 3), HOUR)
    assert due == at(BERLIN, 2025, 3, 31, 3)


def test_chicago_split_shift_across_fall_back() -> None:
    # 00:00-02:30 on 2025-11-02 lasts 3.5 real hours (01:00-02:00 happens twice).
    engine = calendar("chicago_split")
    day = engine.elapsed(at(CHICAGO, 2025, 11, 2), at(CHICAGO, 2025, 11, 2, 12))
    assert day == int(3.5 * HOUR)


def test_fixed_offset_zones() -> None:
    plus_one = calendar("plus_one_9_17")
    assert plus_one.zone == timezone(timedelta(hours=1))
    # No DST: 08:00 UTC is 09:00 all year.
    assert plus_one.due(at(UTC, 2025, 7, 4, 8), 8 * HOUR) == at(UTC, 2025, 7, 4, 16)
    assert plus_one.due(at(UTC, 2025, 1, 3, 8), 8 * HOUR) == at(UTC, 2025, 1, 3, 16)
    minus_six = compile_calendar(make_calendar("-06:00", week([("09:00", "17:00")])))
    assert minus_six.due(at(UTC, 2025, 7, 4, 15), HOUR) == at(UTC, 2025, 7, 4, 16)
    assert parse_zone("+0530") == timezone(timedelta(hours=5, minutes=30))
    with pytest.raises(ValueError):
        parse_zone("+24:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_zone("Mars/Olympus_Mons")


def test_closures_remove_open_time() -> None:
    snapshot = make_calendar(
        "Europe/Berlin",
        week([("09:00", "17:00")]),
        closures=[(at(BERLIN, 2025, 6, 2, 12, 0, 30), at(BERLIN, 2025, 6, 2, 13, 0, 0))],
    )
    engine, oracle = compile_calendar(snapshot), Oracle(snapshot)
    assert oracle.step == 1
    start = at(BERLIN, 2025, 6, 2, 11)
    end = at(BERLIN, 2025, 6, 2, 14)
    assert engine.elapsed(start, end) == oracle.elapsed(start, end) == 3 * HOUR - 3570
    assert not engine.is_open(at(BERLIN, 2025, 6, 2, 12, 30))
    assert engine.is_open(at(BERLIN, 2025, 6, 2, 12, 0, 29))
    assert engine.next_open(at(BERLIN, 2025, 6, 2, 12, 30)) == at(BERLIN, 2025, 6, 2, 13)
    due = engine.due(start, 2 * HOUR)
    assert due == at(BERLIN, 2025, 6, 2, 13, 59, 30)
    assert epoch_ceil(due) == oracle.due(start, 2 * HOUR)


def test_closure_longer_than_a_year() -> None:
    snapshot = make_calendar(
        "Europe/Berlin",
        week([("09:00", "17:00")]),
        closures=[(at(UTC, 2025, 6, 1), at(UTC, 2027, 2, 1))],
    )
    engine = compile_calendar(snapshot)
    assert engine.due(at(UTC, 2025, 5, 30, 15), 2 * HOUR) == at(BERLIN, 2027, 2, 1, 11)
    assert engine.next_open(at(UTC, 2026, 1, 1)) == at(BERLIN, 2027, 2, 1, 9)


def test_zero_seconds_is_start_even_when_closed() -> None:
    engine = calendar("berlin_9_17_de")
    sunday = at(BERLIN, 2025, 6, 1, 3, 7, 11)
    assert engine.due(sunday, 0) == sunday
    assert engine.due(sunday, 0).tzinfo is UTC


def test_fractional_seconds_round_up_to_the_next_whole_second() -> None:
    engine = calendar("berlin_24x7")
    start = at(UTC, 2025, 6, 2, 10).replace(microsecond=250_000)
    assert engine.due(start, 0) == at(UTC, 2025, 6, 2, 10, 0, 1)
    assert engine.due(start, 5) == at(UTC, 2025, 6, 2, 10, 0, 6)
    assert engine.elapsed(start, start + timedelta(seconds=10)) == 10
    assert engine.is_open(start)
    assert engine.next_open(start) == start


def test_outside_holiday_years_weekly_hours_still_apply() -> None:
    engine = calendar("berlin_9_17_de")
    # 2035-12-25 is a Tuesday; the snapshot knows holidays only for 2024-2028.
    assert engine.is_open(at(BERLIN, 2035, 12, 25, 10))
    assert engine.due(at(BERLIN, 2035, 12, 25, 9), HOUR) == at(BERLIN, 2035, 12, 25, 10)
    assert not engine.is_open(at(BERLIN, 2026, 12, 25, 10))


def test_tables_grow_in_both_directions_without_changing_answers() -> None:
    snapshot = CALENDARS["chicago_8_17_us"]
    fresh = BusinessCalendar(snapshot)
    queries = [
        (at(UTC, 2026, 3, 6, 20), 20 * HOUR),
        (at(UTC, 2019, 12, 31, 20), 9 * HOUR),
        (at(UTC, 2031, 12, 31, 23), 40 * 9 * HOUR),
        (at(UTC, 2024, 12, 31, 23, 59, 59), 3),
    ]
    answers = [fresh.due(start, seconds) for start, seconds in queries]
    for (start, seconds), answer in zip(queries, answers, strict=True):
        assert BusinessCalendar(snapshot).due(start, seconds) == answer
        assert fresh.elapsed(start, answer) == seconds
    assert answers[2] > at(UTC, 2032, 2, 1)


def test_long_durations_cross_many_years() -> None:
    engine = BusinessCalendar(CALENDARS["berlin_24x7"])
    start = at(UTC, 2025, 1, 1)
    assert engine.due(start, 5 * 365 * 86400) == at(UTC, 2029, 12, 31)


def test_concurrent_first_use_agrees() -> None:
    snapshot = CALENDARS["berlin_split"]
    engine = BusinessCalendar(snapshot)
    starts = [at(UTC, year, 6, 1) for year in range(2020, 2036)]
    expected = [BusinessCalendar(snapshot).due(start, 40 * HOUR) for start in starts]
    results: dict[int, datetime] = {}

    def work(index: int) -> None:
        results[index] = engine.due(starts[index], 40 * HOUR)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(starts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(len(starts))] == expected


def test_calendar_without_open_hours_raises() -> None:
    engine = compile_calendar(make_calendar("Europe/Berlin", [[]] * 7))
    with pytest.raises(ValueError, match="no open hours"):
        engine.due(at(UTC, 2025, 1, 1), 1)
    with pytest.raises(ValueError, match="no open hours"):
        engine.next_open(at(UTC, 2025, 1, 1))
    assert engine.elapsed(at(UTC, 2025, 1, 1), at(UTC, 2026, 1, 1)) == 0
    assert engine.due(at(UTC, 2025, 1, 1), 0) == at(UTC, 2025, 1, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda e, t: e.due(t, 60),
        lambda e, t: e.due(t, 0),
        lambda e, t: e.elapsed(t, t),
        lambda e, t: e.elapsed(datetime(2025, 1, 1, tzinfo=UTC), t),
        lambda e, t: e.is_open(t),
        lambda e, t: e.next_open(t),
        lambda e, t: e.local(t),
    ],
)
def test_naive_datetimes_raise(call: Callable[[BusinessCalendar, datetime], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(calendar("berlin_9_17_de"), datetime(2025, 6, 2, 10))


def test_negative_seconds_raise() -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar("berlin_9_17_de").due(at(UTC, 2025, 6, 2), -1)


def test_invalid_week_is_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        BusinessCalendar(make_calendar("UTC", week([("09:00", "12:00"), ("11:00", "17:00")])))


def test_local_shows_the_calendar_zone() -> None:
    local = calendar("chicago_8_17_us").local(at(UTC, 2025, 7, 1, 12))
    assert local.utcoffset() == timedelta(hours=-5)
    assert (local.hour, local.tzinfo) == (7, CHICAGO)


def test_compile_calendar_caches_per_snapshot() -> None:
    rebuilt = CalendarSnapshot.model_validate_json(CALENDARS["berlin_24x7"].model_dump_json())
    assert compile_calendar(rebuilt) is compile_calendar(CALENDARS["berlin_24x7"])


def _copy(snapshot: CalendarSnapshot) -> CalendarSnapshot:
    """An equal snapshot in an object of its own, as a workflow deserializes its plan."""
    copy = CalendarSnapshot.model_validate_json(snapshot.model_dump_json())
    assert copy == snapshot and copy is not snapshot
    return copy


def test_due_at_finds_the_compiled_calendar_without_hashing_the_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = _copy(CALENDARS["berlin_9_17_de"])
    start, later = at(BERLIN, 2026, 3, 2, 9), at(BERLIN, 2026, 3, 6, 9)
    expected = calendar("berlin_9_17_de").due(start, 20 * HOUR)
    assert due_at(start, 20 * HOUR, TimeBasis.business, snapshot) == expected
    # Hashing and comparing the snapshot cost four times the query itself.
    looked_at: list[str] = []
    for method in ("__hash__", "__eq__"):
        original = getattr(CalendarSnapshot, method)

        def spy(
            *args: object, original: Callable[..., object] = original, name: str = method
        ) -> object:
            looked_at.append(name)
            return original(*args)

        monkeypatch.setattr(CalendarSnapshot, method, spy)
    for _ in range(3):
        assert due_at(start, 20 * HOUR, TimeBasis.business, snapshot) == expected
        assert elapsed_seconds(start, later, TimeBasis.business, snapshot) == 32 * HOUR
    assert looked_at == []


def test_equal_snapshots_share_a_compiled_calendar_and_a_dead_one_is_forgotten() -> None:
    original = CALENDARS["berlin_split"]
    start = at(UTC, 2026, 6, 1)
    first, second = _copy(original), _copy(original)
    # `original` first: the cache by value keeps the object it compiled from.
    assert compile_calendar(original) is compile_calendar(first) is compile_calendar(second)
    answer = calendar("berlin_split").due(start, 40 * HOUR)
    assert due_at(start, 40 * HOUR, TimeBasis.business, first) == answer
    assert due_at(start, 40 * HOUR, TimeBasis.business, second) == answer
    gone, key = weakref.ref(first), id(first)
    assert key in business_time._by_identity
    del first
    gc.collect()
    assert gone() is None and key not in business_time._by_identity
    assert due_at(start, 40 * HOUR, TimeBasis.business, second) == answer


def test_remembering_a_snapshot_does_not_keep_it_alive() -> None:
    # The compiled calendar keeps the snapshot it was built from, which here is the one
    # remembered: once the cache by value lets go, nothing else may hold either.
    snapshot = make_calendar("Europe/Lisbon", week([("08:00", "18:00")]), name="lisbon_once")
    compiled = weakref.ref(compile_calendar(snapshot))
    monday_0900 = at(ZoneInfo("Europe/Lisbon"), 2026, 6, 1, 9)
    assert due_at(monday_0900, HOUR, TimeBasis.business, snapshot) == monday_0900 + HOUR_DELTA
    gone = weakref.ref(snapshot)
    business_time._compile_by_value.cache_clear()
    del snapshot
    gc.collect()
    assert gone() is None and compiled() is None


def test_a_stale_entry_under_a_reused_id_is_not_trusted() -> None:
    berlin, chicago = _copy(CALENDARS["berlin_24x7"]), _copy(CALENDARS["chicago_8_17_us"])
    compile_calendar(berlin)
    # As if `chicago` had been allocated where a remembered snapshot used to live.
    business_time._by_identity[id(chicago)] = business_time._by_identity[id(berlin)]
    assert compile_calendar(chicago) is compile_calendar(CALENDARS["chicago_8_17_us"])
    assert compile_calendar(berlin) is compile_calendar(CALENDARS["berlin_24x7"])


def test_due_at_and_elapsed_seconds_by_basis() -> None:
    snapshot = CALENDARS["berlin_9_17_de"]
    friday = at(BERLIN, 2025, 3, 28, 16)
    assert due_at(friday, 8 * HOUR, TimeBasis.business, snapshot) == at(BERLIN, 2025, 3, 31, 16)
    # Calendar time is plain elapsed time, even across the spring-forward night.
    assert due_at(friday, 72 * HOUR, TimeBasis.calendar, snapshot) == at(UTC, 2025, 3, 31, 15)
    monday = at(BERLIN, 2025, 3, 31, 16)
    assert elapsed_seconds(friday, monday, TimeBasis.business, snapshot) == 8 * HOUR
    assert elapsed_seconds(friday, monday, TimeBasis.calendar, snapshot) == 71 * HOUR
    assert elapsed_seconds(monday, friday, TimeBasis.calendar, snapshot) == 0


def test_anchor_days_are_really_offset_switches() -> None:
    def switches(zone: ZoneInfo, day: date) -> bool:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        return midnight.utcoffset() != (midnight + timedelta(hours=12)).utcoffset()

    assert [d for d in SWITCH_DAYS if switches(BERLIN, d) or switches(CHICAGO, d)] == SWITCH_DAYS
