"""The catalog file format: pydantic models of a support-policy catalog, and their checks.

A catalog is one YAML file under `policies/catalogs/` that people edit and review. It
is validated into the models below (unknown fields are errors), then `check_references`
checks it across parts (calendar, severity, plan and exclusion ids). `policies.loading`
reads the files and reports every problem with its file and path;
`policies.resolution` freezes a plan into the snapshot a case carries.

Every model has `note` (free text: why the catalog reads its seed this way) and `notes`
(the same, per field: `notes: {zone: "..."}`); both are kept and shown by
`tierline policy show`, so a reading of an ambiguous seed sits beside the value.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from policies.durations import Duration, DurationError, parse_duration
from policies.plan_snapshot import BillingRule, EscalationRole, EscalationTrigger
from policies.snapshot import OpenInterval

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PolicyError(ValueError):
    """A policy cannot be loaded or resolved; the message says why."""


# --------------------------------------------------------------------------- scalar types


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


_OFFSET = re.compile(r"^[+-](\d{2}):(\d{2})$")


def _check_zone(value: str) -> str:
    match = _OFFSET.match(value)
    if match:
        if int(match[1]) > 14 or int(match[2]) >= 60:
            raise ValueError(f"offset {value!r} is out of range (-14:00 to +14:00)")
        return value
    if value.startswith("Etc/GMT") and value != "Etc/GMT":
        raise ValueError(
            f"{value!r} has an inverted sign (Etc/GMT+6 is UTC-06:00); "
            "write a fixed offset such as '-06:00' instead"
        )
    if value == "UTC" or ("/" in value and value in _iana_zones()):
        return value
    if value in _iana_zones():
        raise ValueError(
            f"{value!r} is a legacy abbreviation zone; name a region such as "
            "'Europe/Berlin' or 'America/Chicago', or a fixed offset such as '+01:00'"
        )
    raise ValueError(
        f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin' "
        "or a fixed offset such as '-06:00'"
    )


def tzinfo_for(zone: str) -> tzinfo:
    """The tzinfo for a catalog zone: an IANA name or a fixed offset '+HH:MM'."""
    match = _OFFSET.match(zone)
    if match:
        sign = -1 if zone.startswith("-") else 1
        return timezone(sign * timedelta(hours=int(match[1]), minutes=int(match[2])))
    return ZoneInfo(zone)


_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_INTERVAL = re.compile(rf"^{_TIME}\s*-\s*{_TIME}$")


def _parse_interval(value: object) -> object:
    if isinstance(value, OpenInterval):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected opening hours as quoted text 'HH:MM-HH:MM', got {value!r}")
    match = _INTERVAL.match(value.strip())
    if match is None:
        raise ValueError(f"cannot read opening hours {value!r}; expected 'HH:MM-HH:MM'")
    h1, m1, s1, h2, m2, s2 = (int(part or 0) for part in match.groups())
    if m1 > 59 or m2 > 59 or s1 > 59 or s2 > 59:
        raise ValueError(f"{value!r}: minutes and seconds go up to 59")
    start, end = h1 * 3600 + m1 * 60 + s1, h2 * 3600 + m2 * 60 + s2
    if start >= 86400 or end > 86400:
        raise ValueError(f"{value!r}: times run from 00:00 to 24:00")
    if end <= start:
        raise ValueError(
            f"{value!r} ends before it starts; opening hours cannot cross midnight "
            "(write '22:00-24:00' on one day and '00:00-06:00' on the next)"
        )
    return OpenInterval(start_second=start, end_second=end)


def clock_text(second: int) -> str:
    """'09:00' for 32400, '24:00' for 86400, '09:00:30' when seconds are not zero."""
    hours, rest = divmod(second, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def interval_text(interval: OpenInterval) -> str:
    return f"{clock_text(interval.start_second)}-{clock_text(interval.end_second)}"


def _check_month_day(value: str) -> str:
    match = re.match(r"^(\d{2})-(\d{2})$", value)
    if match is None:
        raise ValueError(f"expected a recurring date as 'MM-DD' (e.g. '12-25'), got {value!r}")
    try:
        date(2000, int(match[1]), int(match[2]))  # 2000 is a leap year: 02-29 is allowed
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the year") from None
    return value


def _parse_percent(value: object) -> object:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not value.strip().endswith("%"):
        raise ValueError(f"expected a percentage such as '10%', got {value!r}")
    try:
        share = Decimal(value.strip().removesuffix("%").strip()) / 100
    except InvalidOperation:
        raise ValueError(f"cannot read percentage {value!r}") from None
    if not 0 < share <= 1:
        raise ValueError(f"{value!r} must be more than 0% and at most 100%")
    return share


def _parse_duration_field(value: object) -> object:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration text such as '8 business hours', got {value!r}")
    try:
        return parse_duration(value)
    except DurationError as error:
        raise ValueError(str(error)) from None


Id = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Lower-case letters, digits and hyphens.",
    ),
]
Zone = Annotated[str, AfterValidator(_check_zone)]
Hours = Annotated[OpenInterval, BeforeValidator(_parse_interval)]
MonthDay = Annotated[str, AfterValidator(_check_month_day)]
Percent = Annotated[Decimal, BeforeValidator(_parse_percent)]
DurationText = Annotated[Duration, BeforeValidator(_parse_duration_field)]


# --------------------------------------------------------------------------- base models


class Spec(BaseModel):
    """Base of every catalog model: unknown fields are errors, values do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Documented(Spec):
    """A catalog model that can carry the catalog author's notes."""

    note: str | None = Field(
        default=None,
        description="Why this entry reads its seed the way it does (shown by `policy show`).",
    )
    notes: dict[str, str] = Field(
        default_factory=dict,
        description="Notes per field, keyed by the field's name: `notes: {zone: '...'}`. "
        "Use them for every value the seed leaves out or leaves ambiguous.",
    )

    @model_validator(mode="after")
    def _notes_name_fields(self) -> Documented:
        names = {
            field.alias or name
            for name, field in type(self).model_fields.items()
            if name not in ("note", "notes")
        }
        unknown = sorted(set(self.notes) - names)
        if unknown:
            raise ValueError(
                f"notes name unknown fields {unknown}; notes are keyed by field names: "
                f"{sorted(names)}"
            )
        return self


# --------------------------------------------------------------------------- calendars


class HolidaySource(Spec):
    """Public holidays from the `holidays` package, resolved to dates when a case opens."""

    country: str = Field(description="ISO 3166-1 alpha-2 code known to `holidays` ('DE', 'US').")
    subdivision: str | None = Field(
        default=None, description="A state or province code ('BY'); unset: nationwide holidays."
    )
    note: str | None = Field(default=None, description="Why this country (and subdivision).")

    @model_validator(mode="after")
    def _known_to_holidays(self) -> HolidaySource:
        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(
                f"the holidays package has no country {self.country!r} "
                "(use an ISO 3166-1 alpha-2 code such as 'DE'; quote 'NO' for Norway)"
            )
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"{self.country} has no subdivision {self.subdivision!r}; "
                f"known: {', '.join(supported[self.country])}"
            )
        return self


def _bare_day(value: object) -> object:
    return value if isinstance(value, dict) else {"day": value}


class ExplicitClosedDay(Spec):
    """A single local day closed. A bare date (`2025-12-24`) is accepted."""

    day: date = Field(description="The date, e.g. 2025-12-24.")
    name: str | None = Field(default=None, description="What the day is.")

    _bare = model_validator(mode="before")(_bare_day)


class RecurringClosedDay(Spec):
    """A local day closed every year. A bare 'MM-DD' text is accepted."""

    day: MonthDay = Field(description="'MM-DD', e.g. '12-25'.")
    name: str | None = Field(default=None, description="What the day is ('Christmas Day').")

    _bare = model_validator(mode="before")(_bare_day)


class ClosureSpec(Spec):
    """An extra closure between two instants (an outage, a half day).

    Give both ends with an offset ('2025-06-01T10:00:00Z', '...+02:00') or both without
    one, in which case they are local times in the calendar's zone.
    """

    start: datetime = Field(description="When the closure begins.")
    end: datetime = Field(description="When it ends (exclusive); after `start`.")
    reason: str = Field(description="Shown to agents and auditors.")

    @model_validator(mode="after")
    def _ordered(self) -> ClosureSpec:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give both start and end with an offset, or both without")
        if self.end <= self.start:
            raise ValueError("a closure must end after it starts")
        return self


class WeekHours(Spec):
    """Open hours per local weekday; a day left out is closed.

    Each day is a list of quoted 'HH:MM-HH:MM' intervals (end exclusive, '24:00' allowed);
    several intervals a day are allowed, overlapping ones are errors.
    """

    mon: list[Hours] = Field(default_factory=list, description="Monday's open intervals.")
    tue: list[Hours] = Field(default_factory=list, description="Tuesday's open intervals.")
    wed: list[Hours] = Field(default_factory=list, description="Wednesday's open intervals.")
    thu: list[Hours] = Field(default_factory=list, description="Thursday's open intervals.")
    fri: list[Hours] = Field(default_factory=list, description="Friday's open intervals.")
    sat: list[Hours] = Field(default_factory=list, description="Saturday's open intervals.")
    sun: list[Hours] = Field(default_factory=list, description="Sunday's open intervals.")

    @field_validator(*WEEKDAYS)
    @classmethod
    def _no_overlap(cls, intervals: list[OpenInterval]) -> list[OpenInterval]:
        ordered = sorted(intervals, key=lambda interval: interval.start_second)
        for before, after in itertools.pairwise(ordered):
            if after.start_second < before.end_second:
                raise ValueError(
                    f"'{interval_text(before)}' overlaps '{interval_text(after)}'; "
                    "merge them into one interval"
                )
        return ordered

    def day(self, weekday: int) -> list[OpenInterval]:
        """The intervals of a weekday, 0 = Monday."""
        intervals: list[OpenInterval] = getattr(self, WEEKDAYS[weekday])
        return intervals


class CalendarSpec(Documented):
    """A business calendar: when support is open, in which zone, and which days are closed."""

    id: Id = Field(description="Plans refer to the calendar by this id.")
    name: str | None = Field(default=None, description="A readable name.")
    zone: Zone = Field(
        description="IANA zone ('Europe/Berlin', daylight saving applies) or a fixed "
        "offset ('-06:00', the same all year). Abbreviations like 'CET' are refused: "
        "decide which one the policy means."
    )
    hours: WeekHours | None = Field(default=None, description="Open hours per weekday.")
    all_hours: bool = Field(
        default=False,
        alias="24x7",
        description="`24x7: true` is shorthand for open 00:00-24:00 every day.",
    )
    include_holidays: bool = Field(
        default=False,
        description="True when the policy says support is open on holidays too "
        "('24x7, including holidays'); such a calendar closes on no holiday.",
    )
    holidays: HolidaySource | None = Field(
        default=None, description="A country's public holidays, closed."
    )
    closed_dates: list[ExplicitClosedDay] = Field(
        default_factory=list,
        description="Single dates closed: `2025-12-24` or {day: 2025-12-24, name: ...}.",
    )
    recurring_closed_dates: list[RecurringClosedDay] = Field(
        default_factory=list,
        description="Dates closed every year: `'12-25'` or {day: '12-25', name: ...}.",
    )
    closures: list[ClosureSpec] = Field(
        default_factory=list, description="Extra closures between two instants, with a reason."
    )
    business_day: DurationText | None = Field(
        default=None,
        description="Length of one business day ('8 hours'). Defaults to the working "
        "day's length when every open weekday is equally long; required otherwise.",
    )

    @model_validator(mode="after")
    def _hours_or_24x7(self) -> CalendarSpec:
        if self.all_hours and self.hours is not None:
            raise ValueError("give either `hours` or `24x7: true`, not both")
        if not self.all_hours and self.hours is None:
            raise ValueError("give the open `hours` per weekday, or `24x7: true`")
        if self.include_holidays and (
            self.holidays or self.closed_dates or self.recurring_closed_dates
        ):
            raise ValueError(
                "`include_holidays: true` means open on holidays; remove `holidays`, "
                "`closed_dates` and `recurring_closed_dates` (or set it to false)"
            )
        return self

    def week(self) -> tuple[tuple[OpenInterval, ...], ...]:
        """Seven tuples of open intervals, Monday first, touching intervals merged."""
        if self.all_hours:
            return tuple((OpenInterval(start_second=0, end_second=86400),) for _ in WEEKDAYS)
        assert self.hours is not None
        return tuple(_merged(self.hours.day(weekday)) for weekday in range(7))

    def business_day_seconds(self) -> int:
        """Length of one business day in seconds; PolicyError when it cannot be decided."""
        if self.business_day is not None:
            if self.business_day.business_days:
                raise PolicyError("business_day must be a length such as '8 hours', not days")
            if self.business_day.seconds > 86400:
                raise PolicyError("business_day cannot be longer than 24 hours")
            return self.business_day.seconds
        lengths = {
            WEEKDAYS[weekday]: sum(i.end_second - i.start_second for i in day)
            for weekday, day in enumerate(self.week())
            if day
        }
        if not lengths:
            raise PolicyError("the calendar is never open; give it some hours")
        if len(set(lengths.values())) > 1:
            spread = ", ".join(f"{day} {seconds / 3600:g}h" for day, seconds in lengths.items())
            raise PolicyError(
                f"working days differ in length ({spread}); declare `business_day` "
                "(e.g. '8 hours') so that 'N business days' has one meaning"
            )
        return next(iter(lengths.values()))


def _merged(intervals: Iterable[OpenInterval]) -> tuple[OpenInterval, ...]:
    merged: list[OpenInterval] = []
    for interval in sorted(intervals, key=lambda i: i.start_second):
        if merged and interval.start_second <= merged[-1].end_second:
            last = merged.pop()
            interval = OpenInterval(
                start_second=last.start_second,
                end_second=max(last.end_second, interval.end_second),
            )
        merged.append(interval)
    return tuple(merged)


# --------------------------------------------------------------------------- severities


class SeveritySpec(Documented):
    """One level of the severity (or priority) scale. List the most severe first."""

    id: Id = Field(description="Plans key their targets by this id ('sev1', 'high').")
    name: str = Field(description="Shown to whoever files a case ('Severity 1 (Urgent)').")
    definition: str | None = Field(
        default=None, description="The seed's definition, verbatim; unset if it gives none."
    )
    starts_in_tier: Literal[1, 2, 3] = Field(
        description="The support tier a new case of this severity starts in."
    )


# --------------------------------------------------------------------------- targets


class CellKind(StrEnum):
    duration = "duration"
    best_effort = "best_effort"
    no_commitment = "no_commitment"
    unset = "unset"


_CELL_WORDS = {
    "best effort": CellKind.best_effort,
    "best-effort": CellKind.best_effort,
    "no commitment": CellKind.no_commitment,
}


class TargetCell(Spec):
    """One SLA cell. Write a duration text, 'best effort', 'no commitment', or
    `{value: <one of those or null>, note: "..."}`. Leaving a cell out leaves it unset.
    """

    kind: CellKind = Field(description="What the cell promises.")
    duration: Duration | None = Field(default=None, description="Set when kind is `duration`.")
    text: str = Field(default="", description="The cell as written.")
    note: str | None = Field(default=None, description="Why the cell reads as it does.")

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: object) -> object:
        if isinstance(value, TargetCell):
            return value
        note = None
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"value", "note"})
            if unknown or "value" not in value:
                raise ValueError(
                    "a target cell is a duration text, 'best effort', 'no commitment', "
                    "or {value: ..., note: ...}"
                    + (f"; unknown keys {unknown}" if unknown else "; `value` is missing")
                )
            note, value = value.get("note"), value["value"]
        if value is None:
            return {"kind": CellKind.unset, "note": note}
        if not isinstance(value, str):
            raise ValueError(f"expected a duration text or 'best effort', got {value!r}")
        words = " ".join(value.lower().split())
        if words in _CELL_WORDS:
            return {"kind": _CELL_WORDS[words], "text": value, "note": note}
        try:
            duration = parse_duration(value)
        except DurationError as error:
            raise ValueError(f"{error}; or 'best effort' / 'no commitment'") from None
        return {"kind": CellKind.duration, "duration": duration, "text": value, "note": note}


CLOCKS = ("first_response", "periodic_update", "resolution", "tier1_target")


class TargetRow(Documented):
    """The targets of one severity. A clock left out has no target."""

    first_response: TargetCell | None = Field(
        default=None, description="Until the first public agent response."
    )
    periodic_update: TargetCell | None = Field(
        default=None, description="Between public agent updates while the case is open."
    )
    resolution: TargetCell | None = Field(
        default=None, description="Until resolved; paused while waiting on the customer."
    )
    tier1_target: TargetCell | None = Field(
        default=None, description="After which a tier-1 case moves to tier 2 by itself."
    )


# --------------------------------------------------------------------------- plans


class Channel(StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"
    web = "web"
    ticketing = "ticketing"
    remote_assistance = "remote_assistance"
    video_call = "video_call"
    callback = "callback"
    knowledge_base = "knowledge_base"
    slack = "slack"


class PriceSpec(Documented):
    """A published price. Amounts are exact decimals; quote them ('1499.00')."""

    amount: Decimal = Field(ge=0, description="Price per `period`.")
    currency: str = Field(pattern="^[A-Z]{3}$", description="ISO 4217 code ('EUR').")
    period: Literal["month", "year"] = Field(description="What the amount pays for.")


class BillingSpec(Documented):
    """How the support fee is worked out and invoiced."""

    rule: BillingRule = Field(
        description="`flat`: the price; `greater_of_fee_or_usage_share`: the larger of "
        "the monthly price and `usage_share` of the monthly usage cost; "
        "`included_with_subscription`: no separate fee."
    )
    usage_share: Percent | None = Field(
        default=None, description="'10%'; required by `greater_of_fee_or_usage_share`."
    )
    invoiced: Literal["monthly", "annually"] | None = Field(
        default=None, description="How often the fee is invoiced, when the policy says."
    )

    @model_validator(mode="after")
    def _share_fits_rule(self) -> BillingSpec:
        needs_share = self.rule is BillingRule.greater_of_fee_or_usage_share
        if needs_share and self.usage_share is None:
            raise ValueError("`greater_of_fee_or_usage_share` needs `usage_share` (e.g. '10%')")
        if not needs_share and self.usage_share is not None:
            raise ValueError(f"`usage_share` has no meaning with rule `{self.rule}`")
        return self


class EscalationLevelSpec(Spec):
    """One management level; the chain's first entry is level 1."""

    title: str = Field(description="As the policy names it ('Support team lead').")
    role: EscalationRole = Field(description="Who is notified: team_lead, department_manager, …")


class EscalationSpec(Documented):
    """The management escalation chain."""

    triggers: list[EscalationTrigger] = Field(
        min_length=1,
        description="`customer_request` and/or `target_missed` (a clock breached).",
    )
    levels: list[EscalationLevelSpec] = Field(min_length=1, description="Level 1 first.")


class RootCauseAnalysisSpec(Documented):
    """Root-cause analysis owed when any of `conditions` holds."""

    conditions: list[Literal["critical", "recurring", "always"]] = Field(
        min_length=1,
        description="`critical`: the severity is in `critical_severities`; `recurring`: "
        "an agent marks the problem recurring; `always`.",
    )
    critical_severities: list[str] = Field(
        default_factory=list, description="Severity ids that count as critical."
    )


class DedicatedChannelSpec(Documented):
    """A channel that serves this customer only."""

    kind: Channel = Field(description="The channel dedicated to the customer ('slack').")


class FeaturesSpec(Documented):
    """What a plan adds beyond targets."""

    root_cause_analysis: RootCauseAnalysisSpec | None = Field(
        default=None, description="Unset: no root-cause analysis is promised."
    )
    dedicated_engineer: bool = Field(default=False, description="A named support engineer.")
    dedicated_channel: DedicatedChannelSpec | None = Field(
        default=None, description="A channel for this customer only."
    )
    priority_updates: bool = Field(
        default=False, description="Early fixes through accelerated (hotfix) releases."
    )


class PlanSpec(Documented):
    """A support plan."""

    id: Id = Field(description="Used as `<catalog>:<plan>` and stored in every case.")
    name: str = Field(description="As the policy names it.")
    price: PriceSpec | None = Field(
        default=None, description="Unset when the policy publishes no price (say so in notes)."
    )
    billing: BillingSpec | None = Field(
        default=None, description="Unset when the policy gives no billing rule."
    )
    channels: list[Channel] = Field(default_factory=list, description="Ways to open a case.")
    calendar: Id = Field(description="Id of the calendar the plan's business time runs on.")
    incidents_per_month: int | Literal["unlimited"] | None = Field(
        default=None,
        description="Cases an organisation may open per calendar month in the plan's zone; "
        "'unlimited', or unset when the policy gives no number.",
    )
    default_targets: TargetRow | None = Field(
        default=None, description="Cells for every severity, unless its own row sets them."
    )
    targets: dict[str, TargetRow] = Field(
        default_factory=dict, description="Per severity id, the clock targets."
    )
    escalation: EscalationSpec | None = Field(
        default=None, description="Unset: the plan has no management escalation."
    )
    reopen_window: DurationText | None = Field(
        default=None, description="How long after resolution the customer may reopen."
    )
    features: FeaturesSpec = Field(
        default_factory=FeaturesSpec, description="Root-cause analysis, dedicated support, …"
    )
    exclusions: list[str] = Field(
        default_factory=list, description="Ids of exclusions agents may cite for this plan."
    )

    @field_validator("incidents_per_month", mode="before")
    @classmethod
    def _quota(cls, value: object) -> object:
        if value is None or value == "unlimited":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected a whole number of at least 1 or 'unlimited', got {value!r}")
        return value

    def cell(self, severity_id: str, clock: str) -> TargetCell | None:
        """The cell for a severity and clock, falling back to `default_targets`."""
        row = self.targets.get(severity_id)
        cell: TargetCell | None = getattr(row, clock) if row else None
        if cell is None and self.default_targets is not None:
            cell = getattr(self.default_targets, clock)
        return cell


class ExclusionSpec(Documented):
    """Something the policy does not cover; agents cite it to close a case as out of scope."""

    id: Id = Field(description="Plans list the exclusions agents may cite by this id.")
    text: str = Field(description="The seed's wording, verbatim.")


class AddOnSpec(Documented):
    """An optional extra a customer buys with a plan (named when a case's plan is resolved)."""

    id: Id = Field(description="Named when a case's plan is resolved with add-ons.")
    name: str = Field(description="As the policy names it.")
    plans: list[str] = Field(min_length=1, description="Ids of plans that may take it.")
    calendar: str | None = Field(
        default=None, description="Id of a calendar that replaces the plan's."
    )
    features: FeaturesSpec | None = Field(
        default=None, description="Features the add-on switches on (merged over the plan's)."
    )


class NoticeSpec(Documented):
    """A kind of announcement the vendor posts to customers."""

    kind: Literal["business_continuity", "scheduled_outage"] = Field(
        description="`business_continuity` (interruptions) or `scheduled_outage` (maintenance)."
    )
    text: str = Field(description="The seed's wording.")
    channels: list[Channel] = Field(default_factory=list, description="Where it is posted.")


class Catalog(Documented):
    """One vendor's support policy."""

    id: Id = Field(description="Catalog id; plans are named `<catalog>:<plan>`.")
    name: str = Field(description="The vendor or policy name.")
    version: str = Field(description="Edited by people when the policy changes ('2025-01').")
    seed: str | None = Field(default=None, description="The document this catalog encodes.")
    calendars: list[CalendarSpec] = Field(min_length=1, description="Business calendars.")
    severities: list[SeveritySpec] = Field(min_length=1, description="Most severe first.")
    plans: list[PlanSpec] = Field(min_length=1, description="Support plans.")
    exclusions: list[ExclusionSpec] = Field(
        default_factory=list, description="Reasons agents may cite to close a case out of scope."
    )
    addons: list[AddOnSpec] = Field(default_factory=list, description="Optional extras.")
    notices: list[NoticeSpec] = Field(
        default_factory=list, description="Kinds of announcements posted to customers."
    )

    _digest: str | None = PrivateAttr(default=None)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def digest(self) -> str:
        """'sha256:<hex>' of the file it was loaded from (of its JSON if built in code)."""
        if self._digest is None:
            return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._digest

    @property
    def path(self) -> Path | None:
        return self._path

    def plan(self, plan_id: str) -> PlanSpec:
        return _by_id(self.plans, plan_id, f"catalog {self.id!r} has no plan")

    def calendar(self, calendar_id: str) -> CalendarSpec:
        return _by_id(self.calendars, calendar_id, f"catalog {self.id!r} has no calendar")

    def addon(self, addon_id: str) -> AddOnSpec:
        return _by_id(self.addons, addon_id, f"catalog {self.id!r} has no add-on")

    def exclusion(self, exclusion_id: str) -> ExclusionSpec:
        return _by_id(self.exclusions, exclusion_id, f"catalog {self.id!r} has no exclusion")


_Item = TypeVar("_Item", PlanSpec, CalendarSpec, AddOnSpec, ExclusionSpec)


def _by_id(items: Sequence[_Item], wanted: str, missing: str) -> _Item:
    for item in items:
        if item.id == wanted:
            return item
    known = ", ".join(item.id for item in items) or "none"
    raise PolicyError(f"{missing} {wanted!r} (known: {known})")


# --------------------------------------------------------------------------- references


def check_references(catalog: Catalog) -> Iterator[tuple[str, str]]:
    """Problems across a catalog's parts, as (path inside the file, message)."""
    for section in ("calendars", "severities", "plans", "exclusions", "addons"):
        seen: set[str] = set()
        for index, item in enumerate(getattr(catalog, section)):
            if item.id in seen:
                yield f"{section}[{index}].id", f"duplicate id {item.id!r}"
            seen.add(item.id)

    calendar_ids = [calendar.id for calendar in catalog.calendars]
    severity_ids = [severity.id for severity in catalog.severities]
    exclusion_ids = [exclusion.id for exclusion in catalog.exclusions]
    plan_ids = [plan.id for plan in catalog.plans]
    day_seconds: dict[str, int] = {}
    for index, calendar in enumerate(catalog.calendars):
        try:
            day_seconds[calendar.id] = calendar.business_day_seconds()
        except PolicyError as error:
            yield f"calendars[{index}].business_day", str(error)

    for index, plan in enumerate(catalog.plans):
        where = f"plans[{index}]"
        if plan.calendar not in calendar_ids:
            yield f"{where}.calendar", _unknown("calendar", plan.calendar, calendar_ids)
        for key in plan.targets:
            if key not in severity_ids:
                yield f"{where}.targets.{key}", _unknown("severity", key, severity_ids)
        for position, exclusion_id in enumerate(plan.exclusions):
            if exclusion_id not in exclusion_ids:
                yield (
                    f"{where}.exclusions[{position}]",
                    _unknown("exclusion", exclusion_id, exclusion_ids),
                )
        rca = plan.features.root_cause_analysis
        for position, severity_id in enumerate(rca.critical_severities if rca else ()):
            if severity_id not in severity_ids:
                yield (
                    f"{where}.features.root_cause_analysis.critical_severities[{position}]",
                    _unknown("severity", severity_id, severity_ids),
                )
        if rca and "critical" in rca.conditions and not rca.critical_severities:
            yield (
                f"{where}.features.root_cause_analysis.critical_severities",
                "condition `critical` needs the severity ids that count as critical",
            )
        if plan.price and plan.billing is None:
            yield f"{where}.billing", "a plan with a price needs a billing rule"
        seconds = day_seconds.get(plan.calendar)
        rows = [(f"targets.{key}", row) for key, row in plan.targets.items()]
        if plan.default_targets:
            rows.append(("default_targets", plan.default_targets))
        for row_path, row in rows:
            for clock in CLOCKS:
                cell: TargetCell | None = getattr(row, clock)
                if cell and cell.duration and cell.duration.business_days and seconds:
                    try:
                        cell.duration.resolve(seconds)
                    except DurationError as error:
                        yield f"{where}.{row_path}.{clock}", str(error)

    for index, addon in enumerate(catalog.addons):
        for position, plan_id in enumerate(addon.plans):
            if plan_id not in plan_ids:
                yield f"addons[{index}].plans[{position}]", _unknown("plan", plan_id, plan_ids)
        if addon.calendar is not None and addon.calendar not in calendar_ids:
            yield f"addons[{index}].calendar", _unknown("calendar", addon.calendar, calendar_ids)


def _unknown(kind: str, value: str, known: Sequence[str]) -> str:
    guess = difflib.get_close_matches(value, known, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown {kind} {value!r} (known: {', '.join(known) or 'none'}){hint}"
