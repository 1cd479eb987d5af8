"""A case's timeline read from its Temporal histories: who did what, when and why.

Built from what the case workflow itself recorded (its projections), not from the read
model, so it holds whatever the read model may have lost or been given since. Each entry
says which run and which history event recorded it; gaps and repeats in the event
sequence are reported as problems, never smoothed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field, computed_field
from temporalio.client import WorkflowHistory

from audit.history import Recorded, case_plan, continued_from, projections, run_id
from models.case import Actor, CaseEvent, case_workflow_id
from models.clocks import ClockEventKind, ClockName
from policies.plan_snapshot import PlanSnapshot, PolicySource

CLOCK_KINDS = frozenset(f"clock_{kind.value}" for kind in ClockEventKind)


class TimelineEntry(BaseModel):
    """One recorded case event with where it was recorded."""

    seq: int
    at: datetime
    actor: Actor
    kind: str
    reason: str | None
    public: bool
    data: dict[str, Any]
    clock_event: bool = Field(description="An SLA clock started, paused, warned, breached ...")
    clock: ClockName | None = None
    due_at: datetime | None = Field(default=None, description="The clock's due instant then")
    run_id: str
    history_event_id: int


class PolicyApplied(BaseModel):
    """The plan the case ran under: where it came from and the frozen snapshot itself."""

    source: PolicySource
    plan_id: str
    plan_name: str
    snapshot: PlanSnapshot


class CaseTimeline(BaseModel):
    """Every event of a case across all its runs, with the policy that applied."""

    number: int
    case_id: str
    runs: list[str]
    policy: PolicyApplied
    entries: list[TimelineEntry]
    problems: list[str] = Field(description="Gaps, repeats or disorder in the event sequence")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def continuous(self) -> bool:
        """The events are numbered 1..n with no gap or repeat."""
        return not self.problems


def entry(event: CaseEvent, recorded: Recorded) -> TimelineEntry:
    """A case event as a timeline entry, with its clock facts lifted out."""
    is_clock = event.kind in CLOCK_KINDS
    clock = ClockName(event.data["clock"]) if is_clock and "clock" in event.data else None
    due = event.data.get("due_at") if is_clock else None
    return TimelineEntry(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        kind=event.kind,
        reason=event.reason,
        public=event.public,
        data=event.data,
        clock_event=is_clock,
        clock=clock,
        due_at=datetime.fromisoformat(due) if isinstance(due, str) else None,
        run_id=recorded.run_id,
        history_event_id=recorded.event_id,
    )


def sequence_problems(entries: Sequence[TimelineEntry]) -> list[str]:
    """What is wrong with the numbering of the entries (they must run 1..n in order)."""
    problems: list[str] = []
    seen: dict[int, TimelineEntry] = {}
    expected = 1
    for item in entries:
        where = f"run {item.run_id} event {item.history_event_id}"
        if item.seq in seen:
            first = seen[item.seq]
            problems.append(
                f"seq {item.seq} recorded twice: run {first.run_id} event "
                f"{first.history_event_id} and {where}"
            )
            continue
        if item.seq < expected:
            problems.append(f"seq {item.seq} out of order at {where}")
        elif item.seq > expected:
            missing = f"{expected}" if item.seq == expected + 1 else f"{expected}-{item.seq - 1}"
            problems.append(f"seq {missing} missing before {where}")
        seen[item.seq] = item
        expected = max(expected, item.seq + 1)
    return problems


def chain_problems(histories: Sequence[WorkflowHistory]) -> list[str]:
    """Runs given that do not continue the run before them."""
    problems: list[str] = []
    for before, after in pairwise(histories):
        continued = continued_from(after)
        if continued != run_id(before):
            problems.append(f"run {run_id(after)} does not continue run {run_id(before)}")
    return problems


def timeline(histories: Sequence[WorkflowHistory]) -> CaseTimeline:
    """Every case event recorded across the runs, with provenance, clocks and policy."""
    plan, number = case_plan(histories)
    entries = [
        entry(event, recorded)
        for history in histories
        for recorded in projections(history)
        for event in recorded.projected.events
    ]
    return CaseTimeline(
        number=number,
        case_id=case_workflow_id(number),
        runs=[run_id(history) for history in histories],
        policy=PolicyApplied(
            source=plan.source, plan_id=plan.plan_id, plan_name=plan.plan_name, snapshot=plan
        ),
        entries=entries,
        problems=chain_problems(histories) + sequence_problems(entries),
    )
