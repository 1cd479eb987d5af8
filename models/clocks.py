"""SLA clocks: pure functions over a clock's state, the plan's target and its calendar.

A clock keeps the business time it consumed before its current running stretch and
the instant that stretch began, so pausing, resuming and a new target never lose
time already used. Due and warning instants are derived from those two values, never
accumulated, so a recompute gives the same answer as a fresh start would.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from policies.business_time import compile_calendar, due_at, elapsed_seconds
from policies.snapshot import CalendarSnapshot, Target

WARNING_SHARE_NUMERATOR = 3
WARNING_SHARE_DENOMINATOR = 4


class ClockName(StrEnum):
    first_response = "first_response"
    periodic_update = "periodic_update"
    resolution = "resolution"
    tier1 = "tier1"


class ClockState(StrEnum):
    inactive = "inactive"
    running = "running"
    paused = "paused"
    stopped = "stopped"


class ClockEventKind(StrEnum):
    started = "started"
    paused = "paused"
    resumed = "resumed"
    warned = "warned"
    breached = "breached"
    met = "met"
    stopped = "stopped"
    recomputed = "recomputed"


class Clock(BaseModel):
    """One SLA clock of a case."""

    model_config = ConfigDict(frozen=True)

    name: ClockName
    target: Target
    state: ClockState = ClockState.inactive
    consumed_seconds: int = 0
    running_since: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    warned: bool = False
    breached: bool = False


class ClockEvent(BaseModel):
    """A fact about a clock, recorded in the case history."""

    model_config = ConfigDict(frozen=True)

    clock: ClockName
    kind: ClockEventKind
    at: datetime
    due_at: datetime | None = None


class ClockView(BaseModel):
    """A clock as people read it: due in UTC and local time, elapsed and remaining."""

    name: ClockName
    state: ClockState
    target: str
    due_at: datetime | None
    due_local: str | None
    elapsed_seconds: int
    remaining_seconds: int | None
    warned: bool
    breached: bool
    met: bool


def _enforced(clock: Clock) -> bool:
    return clock.target.kind == "set" and clock.target.seconds is not None


def _warning_seconds(target_seconds: int) -> int:
    # Ceiling of 75 %: the warning never comes before three quarters are used up.
    return -(-target_seconds * WARNING_SHARE_NUMERATOR // WARNING_SHARE_DENOMINATOR)


def _scheduled(clock: Clock, calendar: CalendarSnapshot) -> Clock:
    """Derive due and warning instants for a running clock."""
    if clock.state is not ClockState.running or not _enforced(clock):
        return clock.model_copy(update={"due_at": None, "warn_at": None})
    assert clock.running_since is not None and clock.target.seconds is not None
    target, basis = clock.target.seconds, clock.target.basis
    since = clock.running_since
    left = max(target - clock.consumed_seconds, 0)
    due = due_at(since, left, basis, calendar)
    warn_left = _warning_seconds(target) - clock.consumed_seconds
    warn = due_at(since, max(warn_left, 0), basis, calendar)
    return clock.model_copy(update={"due_at": due, "warn_at": warn})


def elapsed(clock: Clock, now: datetime, calendar: CalendarSnapshot) -> int:
    """Business (or calendar) seconds this clock has consumed up to `now`."""
    running = 0
    if clock.state is ClockState.running and clock.running_since is not None:
        running = elapsed_seconds(clock.running_since, now, clock.target.basis, calendar)
    return clock.consumed_seconds + running


def start(clock: Clock, now: datetime, calendar: CalendarSnapshot) -> tuple[Clock, ClockEvent]:
    """Start (or restart from zero) a clock."""
    fresh = Clock(
        name=clock.name,
        target=clock.target,
        state=ClockState.running,
        running_since=now,
        started_at=now,
    )
    fresh = _scheduled(fresh, calendar)
    return fresh, ClockEvent(
        clock=clock.name, kind=ClockEventKind.started, at=now, due_at=fresh.due_at
    )


def pause(
    clock: Clock, now: datetime, calendar: CalendarSnapshot
) -> tuple[Clock, ClockEvent | None]:
    if clock.state is not ClockState.running:
        return clock, None
    paused = clock.model_copy(
        update={
            "state": ClockState.paused,
            "consumed_seconds": elapsed(clock, now, calendar),
            "running_since": None,
            "due_at": None,
            "warn_at": None,
        }
    )
    return paused, ClockEvent(clock=clock.name, kind=ClockEventKind.paused, at=now)


def resume(
    clock: Clock, now: datetime, calendar: CalendarSnapshot
) -> tuple[Clock, ClockEvent | None]:
    if clock.state is not ClockState.paused:
        return clock, None
    resumed = _scheduled(
        clock.model_copy(update={"state": ClockState.running, "running_since": now}), calendar
    )
    return resumed, ClockEvent(
        clock=clock.name, kind=ClockEventKind.resumed, at=now, due_at=resumed.due_at
    )


def stop(
    clock: Clock, now: datetime, calendar: CalendarSnapshot
) -> tuple[Clock, ClockEvent | None]:
    """Stop a clock because what it measures happened: met unless it had breached."""
    if clock.state not in (ClockState.running, ClockState.paused):
        return clock, None
    stopped = clock.model_copy(
        update={
            "state": ClockState.stopped,
            "consumed_seconds": elapsed(clock, now, calendar),
            "running_since": None,
            "stopped_at": now,
            "due_at": None,
            "warn_at": None,
        }
    )
    kind = ClockEventKind.stopped if clock.breached or not _enforced(clock) else ClockEventKind.met
    return stopped, ClockEvent(clock=clock.name, kind=kind, at=now)


def retarget(
    clock: Clock, target: Target, now: datetime, calendar: CalendarSnapshot
) -> tuple[Clock, ClockEvent | None]:
    """Apply a new target (a severity change); time already consumed still counts."""
    if clock.target == target:
        return clock, None
    updated = _scheduled(clock.model_copy(update={"target": target}), calendar)
    if clock.state not in (ClockState.running, ClockState.paused):
        return updated, None
    return updated, ClockEvent(
        clock=clock.name, kind=ClockEventKind.recomputed, at=now, due_at=updated.due_at
    )


def fire_due(clock: Clock, now: datetime) -> tuple[Clock, list[ClockEvent]]:
    """Record the warning and the breach whose instants have come, each exactly once."""
    if clock.state is not ClockState.running:
        return clock, []
    events: list[ClockEvent] = []
    warned, breached = clock.warned, clock.breached
    if not warned and clock.warn_at is not None and clock.warn_at <= now:
        warned = True
        events.append(
            ClockEvent(clock=clock.name, kind=ClockEventKind.warned, at=now, due_at=clock.due_at)
        )
    if not breached and clock.due_at is not None and clock.due_at <= now:
        breached = True
        events.append(
            ClockEvent(clock=clock.name, kind=ClockEventKind.breached, at=now, due_at=clock.due_at)
        )
    return clock.model_copy(update={"warned": warned, "breached": breached}), events


def next_deadline(clocks: list[Clock]) -> datetime | None:
    """The earliest warning or breach instant still to fire among running clocks."""
    instants = [
        instant
        for clock in clocks
        if clock.state is ClockState.running
        for instant, fired in ((clock.warn_at, clock.warned), (clock.due_at, clock.breached))
        if instant is not None and not fired
    ]
    return min(instants, default=None)


def view(clock: Clock, now: datetime, calendar: CalendarSnapshot) -> ClockView:
    used = elapsed(clock, now, calendar)
    enforced = _enforced(clock)
    remaining = (clock.target.seconds or 0) - used if enforced else None
    due_local = None
    if clock.due_at is not None:
        due_local = compile_calendar(calendar).local(clock.due_at).isoformat()
    return ClockView(
        name=clock.name,
        state=clock.state,
        target=clock.target.text or clock.target.kind,
        due_at=clock.due_at,
        due_local=due_local,
        elapsed_seconds=used,
        remaining_seconds=remaining,
        warned=clock.warned,
        breached=clock.breached,
        met=clock.state is ClockState.stopped and enforced and not clock.breached,
    )


def withdraw(
    clock: Clock, now: datetime, calendar: CalendarSnapshot
) -> tuple[Clock, ClockEvent | None]:
    """Stop a clock whose promise no longer applies (a case closed out of scope)."""
    stopped, event = stop(clock, now, calendar)
    if event is None:
        return stopped, None
    return stopped, event.model_copy(update={"kind": ClockEventKind.stopped})
