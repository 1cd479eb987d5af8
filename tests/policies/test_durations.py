from decimal import Decimal

import pytest

from policies.durations import Duration, DurationError, parse_duration
from policies.snapshot import TimeBasis

HOUR = 3600


@pytest.mark.parametrize(
    ("text", "basis", "seconds", "business_days"),
    [
        ("30 minutes", TimeBasis.calendar, 1800, 0),
        ("8 business hours", TimeBasis.business, 8 * HOUR, 0),
        ("8 Business Hours", TimeBasis.business, 8 * HOUR, 0),
        ("  24   business   hours ", TimeBasis.business, 24 * HOUR, 0),
        ("3 business days", TimeBasis.business, 0, 3),
        ("1 business day", TimeBasis.business, 0, 1),
        ("1.5 business days", TimeBasis.business, 0, Decimal("1.5")),
        ("24 hours", TimeBasis.calendar, 24 * HOUR, 0),
        ("1 hour", TimeBasis.calendar, HOUR, 0),
        ("1.5 hours", TimeBasis.calendar, 5400, 0),
        ("2 days", TimeBasis.calendar, 48 * HOUR, 0),
        ("1 week", TimeBasis.calendar, 168 * HOUR, 0),
        ("45 s", TimeBasis.calendar, 45, 0),
        ("90 business minutes", TimeBasis.business, 5400, 0),
        ("PT10S", TimeBasis.calendar, 10, 0),
        ("pt10s", TimeBasis.calendar, 10, 0),
        ("P1D", TimeBasis.calendar, 24 * HOUR, 0),
        ("P1W", TimeBasis.calendar, 168 * HOUR, 0),
        ("PT1H30M", TimeBasis.calendar, 5400, 0),
        ("P1DT2H", TimeBasis.calendar, 26 * HOUR, 0),
        ("business PT8H", TimeBasis.business, 8 * HOUR, 0),
        ("business P2DT1H", TimeBasis.business, HOUR, 2),
    ],
)
def test_parse(text, basis, seconds, business_days):
    duration = parse_duration(text)
    assert duration.basis is basis
    assert duration.seconds == seconds
    assert duration.business_days == business_days
    assert duration.text == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("soon", "write the number in digits"),
        ("one business day", "write the number in digits"),
        ("3 fortnights", "unknown unit 'fortnights'"),
        ("8 business", "no unit after 'business'"),
        ("8 bussiness hours", "cannot read duration"),
        ("0 minutes", "longer than zero"),
        ("PT0S", "longer than zero"),
        ("1.0001 seconds", "whole number of seconds"),
        ("2 business weeks", "business weeks"),
        ("business P1W", "business weeks"),
        ("P1M", "years and months"),
        ("P1Y2D", "years and months"),
        ("PT", "cannot read ISO 8601"),
        ("P", "cannot read ISO 8601"),
        ("PT1.5S", "cannot read ISO 8601"),
        ("-5 minutes", "cannot read duration"),
    ],
)
def test_errors_say_what_is_wrong(text, problem):
    with pytest.raises(DurationError, match=problem):
        parse_duration(text)


def test_non_text_is_refused():
    with pytest.raises(DurationError, match="expected a duration text"):
        parse_duration(8)  # type: ignore[arg-type]


def test_business_days_resolve_against_a_calendars_business_day():
    duration = parse_duration("7 business days")
    assert duration.resolve(8 * HOUR) == 56 * HOUR
    assert duration.resolve(9 * HOUR) == 63 * HOUR
    assert parse_duration("business P1DT1H").resolve(8 * HOUR) == 9 * HOUR
    with pytest.raises(DurationError, match="needs a calendar"):
        duration.resolve()


def test_fixed_durations_ignore_the_business_day_length():
    assert parse_duration("8 business hours").resolve(17 * HOUR) == 8 * HOUR
    assert parse_duration("PT10S").resolve() == 10


def test_fractional_business_days_must_come_to_whole_seconds():
    assert parse_duration("0.5 business days").resolve(8 * HOUR) == 4 * HOUR
    with pytest.raises(DurationError, match="whole number of seconds"):
        parse_duration("0.3333 business days").resolve(17 * HOUR + 1)


def test_duration_is_frozen_and_round_trips_through_json():
    duration = parse_duration("3 business days")
    assert Duration.model_validate_json(duration.model_dump_json()) == duration
    with pytest.raises(ValueError):
        duration.seconds = 5  # type: ignore[misc]
