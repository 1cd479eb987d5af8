"""What a recorded case would have looked like under another plan.

The case's recorded commands (accepted updates and release signals) are run again, at
the instants the workflow handled them, through the pure decision functions of
`models.transitions` under the other plan snapshot. Nothing talks to Temporal: the real
case and its history are never touched. Each clock's outcome is set against what the
recorded case actually did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field
from temporalio.client import WorkflowHistory

from audit.history import (
    HistoryProblem,
    RecordedCommand,
    case_start,
    commands,
    event_time,
    projections,
)
from audit.timeline import CLOCK_KINDS, timeline
from models import clocks, transitions
from models.case import FINAL, Actor, CaseState, CaseStatus, case_workflow_id
from models.clocks import ClockName, ClockState, ClockView
from models.release import ReleaseNews
from models.transitions import Fact, Refused
from policies.plan_snapshot import PlanSnapshot, PolicySource


class CaseRefusedUnderPlan(ValueError):
    """The other plan cannot open this case at all (it has no such severity)."""


class ClockOutcome(BaseModel):
    """How one SLA clock ended: its target, its last due instant, met or breached and when."""

    clock: ClockName
    target: str
    state: ClockState
    due_at: datetime | None = Field(
        description="The due instant it missed if breached, else the last one it had"
    )
    warned_at: datetime | None = None
    met: bool
    met_at: datetime | None = None
    breached: bool
    breached_at: datetime | None = None


class ClockComparison(BaseModel):
    """One clock in the recorded case and under the other plan."""

    clock: ClockName
    actual: ClockOutcome
    what_if: ClockOutcome

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changed(self) -> bool:
        """Met or breached differ between the recorded case and the other plan."""
        return (self.actual.met, self.actual.breached) != (self.what_if.met, self.what_if.breached)


class RefusedCommand(BaseModel):
    """A recorded command the other plan would not have allowed (skipped)."""

    name: str
    at: datetime
    actor: Actor
    reason: str


class SimulatedEvent(BaseModel):
    """A fact the case would have recorded under the other plan."""

    at: datetime
    kind: str
    actor: Actor
    reason: str | None
    data: dict[str, Any]


class WhatIfReport(BaseModel):
    """A recorded case's commands replayed under another plan, clock by clock."""

    number: int
    case_id: str
    actual_policy: PolicySource
    actual_plan_id: str
    policy: PolicySource
    plan_id: str
    opened_at: datetime
    until: datetime
    applied: int = Field(description="Recorded commands the other plan allowed")
    refused: list[RefusedCommand]
    actual_status: CaseStatus
    what_if_status: CaseStatus
    actual_escalation_level: int
    what_if_escalation_level: int
    clocks: list[ClockComparison]
    events: list[SimulatedEvent]


def case_end(histories: Sequence[WorkflowHistory]) -> datetime:
    """When the case's last run closed, or its last recorded event if it still runs."""
    if not histories or not histories[-1].events:
        raise HistoryProblem("no history")
    last = histories[-1].events[-1]
    return event_time(last)


def outcomes(
    views: Iterable[ClockView], events: Iterable[tuple[datetime, str, dict[str, Any]]]
) -> dict[ClockName, ClockOutcome]:
    """Each clock's outcome from its final view and its clock events (at, kind, data)."""
    found: dict[ClockName, dict[str, Any]] = {}
    for at, kind, data in events:
        if kind not in CLOCK_KINDS or "clock" not in data:
            continue
        facts = found.setdefault(ClockName(data["clock"]), {})
        # A breached clock keeps the due instant it missed; others their latest one.
        if isinstance(data.get("due_at"), str) and "breached_at" not in facts:
            facts["due_at"] = datetime.fromisoformat(data["due_at"])
        match kind:
            case "clock_warned":
                facts.setdefault("warned_at", at)
            case "clock_breached":
                facts.setdefault("breached_at", at)
            case "clock_met":
                facts["met_at"] = at
    return {
        view.name: ClockOutcome(
            clock=view.name,
            target=view.target,
            state=view.state,
            met=view.met,
            breached=view.breached,
            **{"due_at": None, **found.get(view.name, {})},
        )
        for view in views
    }


def _advance(state: CaseState, until: datetime, record: list[SimulatedEvent]) -> CaseState:
    """Fire every warning and breach due by `until`, each at its own instant, as the
    workflow's timers would."""
    while state.status not in FINAL:
        deadline = transitions.next_deadline(state)
        if deadline is None or deadline > until:
            break
        state, facts = transitions.tick(state, deadline)
        if not facts:
            break
        _record(record, facts, deadline)
    return state


def _record(record: list[SimulatedEvent], facts: Sequence[Fact], at: datetime) -> None:
    record.extend(
        SimulatedEvent(at=at, kind=f.kind, actor=f.actor, reason=f.reason, data=f.data)
        for f in facts
    )


def _apply(state: CaseState, recorded: RecordedCommand) -> tuple[CaseState, list[Fact]]:
    if isinstance(recorded.command, ReleaseNews):
        return transitions.release_news(state, recorded.command, recorded.at)
    return transitions.handle(state, recorded.command, recorded.at)


def what_if(
    histories: Sequence[WorkflowHistory], plan: PlanSnapshot, until: datetime | None = None
) -> WhatIfReport:
    """The recorded case's commands run under `plan`, each clock set against the real one."""
    opening = case_start(histories)
    recorded = [p for history in histories for p in projections(history)]
    if not recorded:
        raise HistoryProblem(f"case {opening.number} never opened")
    opened_at = recorded[0].projected.view.opened_at
    end = until or case_end(histories)
    simulated: list[SimulatedEvent] = []
    try:
        state, facts = transitions.open_case(opening.model_copy(update={"plan": plan}), opened_at)
    except Refused as refusal:
        raise CaseRefusedUnderPlan(refusal.reason) from None
    _record(simulated, facts, opened_at)
    refused: list[RefusedCommand] = []
    applied = 0
    for command in sorted(commands(histories), key=lambda c: (c.at, c.event_id)):
        if command.at > end:
            break
        state = _advance(state, command.at, simulated)
        try:
            state, facts = _apply(state, command)
        except Refused as refusal:
            refused.append(
                RefusedCommand(
                    name=command.name, at=command.at, actor=command.actor, reason=refusal.reason
                )
            )
            continue
        applied += 1
        _record(simulated, facts, command.at)
    state = _advance(state, end, simulated)

    actual_view = recorded[-1].projected.view
    actual = outcomes(
        actual_view.clocks,
        ((entry.at, entry.kind, entry.data) for entry in timeline(histories).entries),
    )
    calendar = plan.calendar
    imagined = outcomes(
        (clocks.view(clock, end, calendar) for clock in state.clocks.values()),
        ((event.at, event.kind, event.data) for event in simulated),
    )
    return WhatIfReport(
        number=opening.number,
        case_id=case_workflow_id(opening.number),
        actual_policy=opening.plan.source,
        actual_plan_id=opening.plan.plan_id,
        policy=plan.source,
        plan_id=plan.plan_id,
        opened_at=opened_at,
        until=end,
        applied=applied,
        refused=refused,
        actual_status=actual_view.status,
        what_if_status=state.status,
        actual_escalation_level=actual_view.escalation_level,
        what_if_escalation_level=state.escalation_level,
        clocks=[
            ClockComparison(clock=name, actual=actual[name], what_if=imagined[name])
            for name in ClockName
            if name in actual and name in imagined
        ],
        events=simulated,
    )
