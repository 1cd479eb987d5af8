"""Seeds' published office hours read by hand, sharing no code with the business-time
engine, and helpers that pick opening instants from the calendar (never today's date)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import holidays

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
CENTRAL_STANDARD = timezone(timedelta(hours=-6))
DAY = timedelta(days=1)


@dataclass(frozen=True)
class OfficeHours:
    """A seed's published hours read by hand: one window each weekday, some days closed."""

    zone: tzinfo
    opens: time
    closes: time
    closed: Callable[[date], bool]

    def open_on(self, day: date) -> bool:
        return day.weekday() < 5 and not self.closed(day)

    def next_open_day(self, day: date) -> date:
        day += DAY
        while not self.open_on(day):
            day += DAY
        return day

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone)

    def due(self, opened: datetime, seconds: int) -> datetime:
        """Take each working day's open hours in turn until `seconds` are used up.

        Wall-clock arithmetic inside one day is exact here: every seed's daylight-saving
        switch happens at night, outside its hours.
        """
        local = opened.astimezone(self.zone)
        day, begin = local.date(), local.timetz().replace(tzinfo=None)
        left = timedelta(seconds=seconds)
        while True:
            if self.open_on(day):
                start = max(begin, self.opens)
                available = datetime.combine(day, self.closes) - datetime.combine(day, start)
                if available > timedelta(0):
                    if left <= available:
                        return datetime.combine(day, start, tzinfo=self.zone) + left
                    left -= available
            day, begin = day + DAY, time(0)


US_HOLIDAYS = holidays.country_holidays("US")
DE_HOLIDAYS = holidays.country_holidays("DE")
# us-software-002 Standard: Mon-Fri 08:00-17:00 Central Time, US federal holidays closed.
US_STANDARD = OfficeHours(CHICAGO, time(8), time(17), lambda day: day in US_HOLIDAYS)
# eu-software-001: Mon-Fri 09:00-17:00 CET/CEST, Germany's nationwide holidays closed.
EU_OFFICE = OfficeHours(BERLIN, time(9), time(17), lambda day: day in DE_HOLIDAYS)
# OfficeSpace: Mon-Fri 05:00-22:00 at a fixed UTC-06:00, closed 1 January and 25 December.
OFFICESPACE = OfficeHours(
    CENTRAL_STANDARD,
    time(5),
    time(22),
    lambda day: (day.month, day.day) in {(1, 1), (12, 25)},
)


def next_day(after: datetime, zone: tzinfo, wanted: Callable[[date], bool]) -> date:
    day = after.astimezone(zone).date() + DAY
    while not wanted(day):
        day += DAY
    return day


def next_dst_switch(after: datetime, zone: ZoneInfo) -> date:
    """The next local date on which the zone's offset changes (a Sunday, at night)."""

    def offset(day: date) -> timedelta | None:
        return datetime.combine(day, time(12), tzinfo=zone).utcoffset()

    return next_day(after, zone, lambda day: offset(day) != offset(day - DAY))


def friday_before_open_monday(hours: OfficeHours, after: datetime) -> date:
    return next_day(
        after,
        hours.zone,
        lambda day: day.weekday() == 4 and hours.open_on(day) and hours.open_on(day + 3 * DAY),
    )


def eve_of_holiday(hours: OfficeHours, after: datetime) -> date:
    """A working day followed by a weekday on which the office is closed."""
    return next_day(
        after,
        hours.zone,
        lambda day: hours.open_on(day) and (day + DAY).weekday() < 5 and hours.closed(day + DAY),
    )


def last_open_day_before(hours: OfficeHours, day: date) -> date:
    day -= DAY
    while not hours.open_on(day):
        day -= DAY
    return day
