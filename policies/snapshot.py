"""Frozen, serializable policy snapshots that a case workflow carries.

A catalog (YAML, edited by people) resolves into these models when a case opens.
Once resolved, nothing here depends on catalog files, the clock or the `holidays`
package, so a running case never changes behaviour when either changes later.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenInterval(Frozen):
    """Open hours on one local weekday, as seconds after local midnight, end exclusive.

    `end_second` may be 86400 (24:00). An instant is open when its local wall-clock
    time falls inside an interval of its local weekday and its local date is not closed.
    """

    start_second: int = Field(ge=0, lt=86400)
    end_second: int = Field(gt=0, le=86400)


class Closure(Frozen):
    """An extra closure between two UTC instants (e.g. a half-day or an outage)."""

    start: datetime
    end: datetime
    reason: str = ""


class CalendarSnapshot(Frozen):
    """A business calendar with every holiday resolved to a date.

    `zone` is an IANA name ("Europe/Berlin") or a fixed offset ("+01:00", "-06:00").
    `week` has seven entries, Monday first, each a list of non-overlapping sorted
    intervals. `closed_dates` are whole local days closed (holidays, explicit dates,
    recurring dates resolved for `first_year`..`last_year`). Outside that year range
    the calendar knows no holidays, which is why the range covers several years.
    `business_day_seconds` is the length of one business day ("N business days" is
    N times it).
    """

    name: str
    zone: str
    week: tuple[tuple[OpenInterval, ...], ...] = Field(min_length=7, max_length=7)
    closed_dates: tuple[date, ...] = ()
    closures: tuple[Closure, ...] = ()
    first_year: int
    last_year: int
    business_day_seconds: int = Field(gt=0)


class TimeBasis(StrEnum):
    business = "business"
    calendar = "calendar"


class Target(Frozen):
    """One SLA target cell.

    `kind` is `set` (a duration applies), `best_effort` (promised, no deadline) or
    `unset` (the policy makes no commitment or leaves the number out). For `set`,
    `seconds` is the duration already converted to seconds of `basis` time (business
    days are multiplied by the calendar's business-day length at resolution time);
    `text` keeps the catalog's wording for display ("3 business days").
    """

    kind: str = Field(pattern="^(set|best_effort|unset)$")
    seconds: int | None = None
    basis: TimeBasis = TimeBasis.business
    text: str = ""
