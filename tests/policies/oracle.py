"""Brute-force reference for business time, and builders for test calendars.

The oracle walks UTC time a minute at a time (a second at a time off the minute grid)
and asks, for each step, whether that instant is open by converting it to local wall
time with zoneinfo. It is slow on purpose: it implements the spec literally and shares
no code with `policies.business_time`.

Minute steps are exact because every boundary the test calendars use (interval ends,
closures, and the zones' offset changes) falls on a whole UTC minute; the constructor
checks the calendar's own boundaries and falls back to one-second steps otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import holidays

from policies.snapshot import CalendarSnapshot, Closure, OpenInterval

# A bound on the walk, so that a calendar that never opens fails instead of hanging.
SEARCH_LIMIT_SECONDS = 400 * 86400


def _zone(name: str) -> tzinfo:
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", name)
    if match is None:
        return ZoneInfo(name)
    offset = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-offset if match[1] == "-" else offset)


def epoch_ceil(instant: datetime) -> int:
    """Whole UTC epoch seconds, a fractional second counting as the next whole one."""
    if instant.utcoffset() is None:
        raise ValueError("naive datetime")
    exact = instant - datetime(1970, 1, 1, tzinfo=UTC)
    whole = exact.days * 86400 + exact.seconds
    return whole + (1 if exact.microseconds else 0)


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Oracle:
    """The spec, literally: an instant is open iff its local wall time is inside an
    interval of its local weekday, its local date is not closed, and no closure
    covers it."""

    def __init__(self, snapshot: CalendarSnapshot) -> None:
        self.zone = _zone(snapshot.zone)
        self.week = [[(i.start_second, i.end_second) for i in day] for day in snapshot.week]
        self.closed = set(snapshot.closed_dates)
        self.closures = [(c.start, c.end) for c in snapshot.closures]
        boundaries = [s for day in self.week for pair in day for s in pair]
        boundaries += [epoch_ceil(moment) for pair in self.closures for moment in pair]
        self.step = 60 if all(b % 60 == 0 for b in boundaries) else 1

    def is_open(self, epoch: int) -> bool:
        local = datetime.fromtimestamp(epoch, self.zone)
        if local.date() in self.closed:
            return False
        wall = local.hour * 3600 + local.minute * 60 + local.second
        if not any(start <= wall < end for start, end in self.week[local.weekday()]):
            return False
        instant = utc(epoch)
        return not any(start <= instant < end for start, end in self.closures)

    def due(self, start: datetime, seconds: int) -> int:
        """Epoch seconds of the earliest instant with `seconds` of open time since start."""
        t = epoch_ceil(start)
        remaining = seconds
        if remaining == 0:
            return t
        limit = t + SEARCH_LIMIT_SECONDS
        while t < limit:
            step = self.step if t % self.step == 0 else 1
            if self.is_open(t):
                if remaining <= step:
                    return t + remaining
                remaining -= step
            t += step
        raise ValueError("no open time within the search limit")

    def elapsed(self, a: datetime, b: datetime) -> int:
        """Open seconds in [a, b)."""
        t, end = epoch_ceil(a), epoch_ceil(b)
        total = 0
        while t < end:
            step = self.step if t % self.step == 0 and t + self.step <= end else 1
            if self.is_open(t):
                total += step
            t += step
        return total


# Builders ------------------------------------------------------------------------------

Hours = Sequence[tuple[str, str]]
WEEKDAYS = range(5)
EVERY_DAY = range(7)


def _second(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def week(hours: Hours, days: Iterable[int] = WEEKDAYS) -> list[Hours]:
    """The same hours ("09:00", "17:00") on each of `days`, none on the others."""
    chosen = set(days)
    return [hours if day in chosen else [] for day in range(7)]


def make_calendar(
    zone: str,
    hours_by_weekday: Sequence[Hours],
    holiday_country: str | None = None,
    years: range = range(2024, 2029),
    closed_dates: Iterable[date] = (),
    closures: Iterable[tuple[datetime, datetime]] = (),
    name: str = "test",
) -> CalendarSnapshot:
    """A calendar snapshot: hours per weekday (Monday first) as "HH:MM" pairs."""
    closed = set(closed_dates)
    if holiday_country is not None:
        closed |= set(holidays.country_holidays(holiday_country, years=years))
    day_lengths = [
        sum(_second(end) - _second(start) for start, end in day) for day in hours_by_weekday
    ]
    return CalendarSnapshot(
        name=name,
        zone=zone,
        week=tuple(
            tuple(
                OpenInterval(start_second=_second(start), end_second=_second(end))
                for start, end in day
            )
            for day in hours_by_weekday
        ),
        closed_dates=tuple(sorted(closed)),
        closures=tuple(Closure(start=start, end=end) for start, end in closures),
        first_year=years.start,
        last_year=years.stop - 1,
        business_day_seconds=max(day_lengths) or 1,
    )


def standard_calendars() -> dict[str, CalendarSnapshot]:
    """The calendars the property tests and the bench share."""
    return {
        "berlin_9_17_de": make_calendar(
            "Europe/Berlin", week([("09:00", "17:00")]), "DE", name="berlin_9_17_de"
        ),
        "chicago_8_17_us": make_calendar(
            "America/Chicago", week([("08:00", "17:00")]), "US", name="chicago_8_17_us"
        ),
        "berlin_24x7": make_calendar(
            "Europe/Berlin", week([("00:00", "24:00")], EVERY_DAY), name="berlin_24x7"
        ),
        "chicago_24x7": make_calendar(
            "America/Chicago", week([("00:00", "24:00")], EVERY_DAY), name="chicago_24x7"
        ),
        "berlin_split": make_calendar(
            "Europe/Berlin",
            week([("00:30", "03:30"), ("18:00", "23:00")], EVERY_DAY),
            name="berlin_split",
        ),
        "chicago_split": make_calendar(
            "America/Chicago",
            week([("00:00", "02:30"), ("20:00", "24:00")], EVERY_DAY),
            name="chicago_split",
        ),
    }
