"""Durations as catalogs write them: "30 minutes", "8 business hours", "3 business days", "PT10S".

A duration is either business time (counted only while the plan's calendar is open) or
calendar time (real elapsed time). Business days are kept as days until they are
resolved against a calendar, because one business day is that calendar's business-day
length (8 hours on a 09:00-17:00 calendar), not 24 hours.

Accepted forms (case and extra spaces do not matter):

- `<number> [business] <unit>` where unit is second(s), minute(s), hour(s), day(s) or
  week(s) (abbreviations s, sec, min, h, hr, d, w also work); the number may be
  fractional ("1.5 hours") as long as the result is a whole number of seconds.
  "business weeks" are refused: write business days.
- ISO 8601 `P[nW][nD][T[nH][nM][nS]]` ("PT10S", "P1D", "PT1H30M"), calendar time;
  prefix `business ` ("business PT8H") for business time, where `nD` counts business
  days. Years and months are refused (their length varies).

Calendar days and weeks are 24 and 168 hours of elapsed time.
"""

from __future__ import annotations

import re
from decimal import Decimal

from pydantic import Field

from policies.snapshot import Frozen, TimeBasis

SECONDS_PER_UNIT: dict[str, int] = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
}

_UNIT_ALIASES: dict[str, str] = {
    "s": "second",
    "sec": "second",
    "secs": "second",
    "second": "second",
    "seconds": "second",
    "min": "minute",
    "mins": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
    "w": "week",
    "week": "week",
    "weeks": "week",
}

_WORDS = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s+(?P<business>business\s+)?(?P<unit>[a-z]+)$")
_ISO = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)

FORMS = (
    "'<number> [business] <unit>' such as '30 minutes', '8 business hours', "
    "'3 business days', '24 hours', or ISO 8601 such as 'PT10S', 'P1D' "
    "('business PT8H' for business time)"
)


class DurationError(ValueError):
    """A duration text that cannot be read; the message says what is wrong."""


class Duration(Frozen):
    """A parsed duration: a fixed number of seconds plus, for business time, business days.

    The total length is `seconds + business_days * business_day_seconds`, where the
    business-day length comes from the calendar the duration is measured on.
    """

    text: str = Field(description="The duration as written in the catalog, for display.")
    basis: TimeBasis = Field(
        description="`business`: counted only while the calendar is open; "
        "`calendar`: real elapsed time."
    )
    seconds: int = Field(
        default=0, ge=0, description="The part of the duration that is a fixed number of seconds."
    )
    business_days: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="Business days not yet converted to seconds (business basis only).",
    )

    def resolve(self, business_day_seconds: int | None = None) -> int:
        """Total seconds of `basis` time, converting business days with the calendar's length."""
        if not self.business_days:
            return self.seconds
        if business_day_seconds is None:
            raise DurationError(
                f"{self.text!r} counts business days; its length needs a calendar's business day"
            )
        total = self.business_days * business_day_seconds
        if total != total.to_integral_value():
            raise DurationError(
                f"{self.text!r} is not a whole number of seconds "
                f"with a business day of {business_day_seconds} seconds"
            )
        return self.seconds + int(total)


def parse_duration(text: str) -> Duration:
    """Read a duration text (see the module docstring for the accepted forms)."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration text, got {type(text).__name__}: {FORMS}")
    normal = " ".join(text.strip().lower().split())
    if not normal:
        raise DurationError(f"empty duration; expected {FORMS}")

    business = False
    iso = normal
    if iso.startswith("business p"):
        business, iso = True, iso.removeprefix("business ")
    if iso.startswith("p"):
        return _parse_iso(text, iso.upper(), business)

    match = _WORDS.match(normal)
    if match is None:
        if normal.split()[0].isalpha():
            raise DurationError(
                f"cannot read duration {text!r}: write the number in digits ('1 business day')"
            )
        raise DurationError(f"cannot read duration {text!r}; expected {FORMS}")
    unit = _UNIT_ALIASES.get(match["unit"])
    if match["unit"] == "business":
        raise DurationError(f"{text!r} has no unit after 'business' (hours, minutes, days)")
    if unit is None:
        raise DurationError(
            f"unknown unit {match['unit']!r} in {text!r}; "
            "use seconds, minutes, hours, days or weeks"
        )
    number = Decimal(match["number"])
    if match["business"]:
        if unit == "week":
            raise DurationError(f"{text!r}: business weeks are ambiguous; write business days")
        if unit == "day":
            return _checked(Duration(text=text, basis=TimeBasis.business, business_days=number))
        return _checked(
            Duration(text=text, basis=TimeBasis.business, seconds=_whole(number, unit, text))
        )
    return _checked(
        Duration(text=text, basis=TimeBasis.calendar, seconds=_whole(number, unit, text))
    )


def _parse_iso(text: str, iso: str, business: bool) -> Duration:
    date_part = iso.partition("T")[0]
    if "Y" in date_part or "M" in date_part:
        raise DurationError(f"{text!r}: ISO years and months vary in length; use days or weeks")
    match = _ISO.match(iso)
    if match is None or iso in ("P", "PT") or iso.endswith("T"):
        raise DurationError(f"cannot read ISO 8601 duration {text!r}; expected {FORMS}")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    weeks, days = parts.get("weeks", 0), parts.get("days", 0)
    seconds = parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
    if business:
        if weeks:
            raise DurationError(f"{text!r}: business weeks are ambiguous; write business days")
        return _checked(
            Duration(
                text=text, basis=TimeBasis.business, seconds=seconds, business_days=Decimal(days)
            )
        )
    seconds += (weeks * 7 + days) * 86400
    return _checked(Duration(text=text, basis=TimeBasis.calendar, seconds=seconds))


def _whole(number: Decimal, unit: str, text: str) -> int:
    total = number * SECONDS_PER_UNIT[unit]
    if total != total.to_integral_value():
        raise DurationError(f"{text!r} is not a whole number of seconds")
    return int(total)


def _checked(duration: Duration) -> Duration:
    if duration.seconds == 0 and duration.business_days == 0:
        raise DurationError(f"{duration.text!r}: a duration must be longer than zero")
    return duration
