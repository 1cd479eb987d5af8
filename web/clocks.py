"""Where a case's clocks fall due in the plan's own calendar, as people read it, for the
console and the portal alike."""

from __future__ import annotations

from datetime import datetime, tzinfo

from models.case import ClockView
from policies.business_time import parse_zone
from policies.durations import DurationError, parse_duration
from policies.format import Catalog, PolicyError
from policies.snapshot import TimeBasis
from web.render import aware, wall


def plan_zone(catalog: Catalog | None, plan_id: str, addons: list[str]) -> tzinfo | None:
    """The zone of the plan's calendar (an add-on's, where it brings one), for its name."""
    if catalog is None:
        return None
    try:
        plan = catalog.plan(plan_id)
        calendar = plan.calendar
        for addon in (catalog.addon(a) for a in addons):
            if plan.id in addon.plans and addon.calendar:
                calendar = addon.calendar
        return parse_zone(catalog.calendar(calendar).zone)
    except PolicyError:
        return None


def due_local_words(clock: ClockView, zone: tzinfo | None) -> str:
    """When the clock falls due in the case's calendar's local time, with the zone's name
    where the catalog's zone gives the case's own offset (its frozen calendar rules)."""
    if clock.due_at is None or clock.due_local is None:
        return "—"
    local = datetime.fromisoformat(clock.due_local)
    if zone is not None and clock.due_at.astimezone(zone).utcoffset() == local.utcoffset():
        local = clock.due_at.astimezone(zone)
    return wall(local)


def local_words(moment: datetime | None, zone: tzinfo | None) -> str:
    """An instant as people in the plan's calendar read it (in UTC where that is unknown)."""
    if moment is None:
        return "—"
    return wall(aware(moment).astimezone(zone) if zone is not None else moment)


def spoken(seconds: int) -> str:
    """`40 minutes`, `8 hours`, `1 day 2 hours`."""
    parts = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def target_words(text: str) -> str:
    """A target as the plan words it (`30 minutes`, `1 business day`); an ISO 8601
    duration (`PT40M`) spelled out, and no target said so."""
    if text in ("", "unset"):
        return "no commitment"
    if text == "best_effort":
        return "best effort"
    if not text.strip().lower().startswith(("p", "business p")):
        return text
    try:
        duration = parse_duration(text)
    except DurationError:
        return text
    said = spoken(duration.seconds) if duration.seconds else ""
    if duration.business_days:
        days = f"{duration.business_days} business day{'' if duration.business_days == 1 else 's'}"
        said = f"{days} {said}".strip()
    elif duration.basis is TimeBasis.business:
        said = f"{said} of business time"
    return said
