"""The timeline read from Temporal histories matches what the read model projected,
carries every clock fact with provenance, and reports gaps and repeats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType

from audit.history import PROJECT_CASE, PROJECT_CASE_LOCAL, case_start
from audit.timeline import timeline
from models.clocks import ClockName
from tests.audit.conftest import RecordedCase, stored


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_the_timeline_from_history_equals_the_read_model(recorded_case: RecordedCase) -> None:
    line = timeline(recorded_case.histories)
    assert line.continuous, line.problems
    projected = [
        (e.seq, e.kind, e.actor_id, e.actor_role, utc(e.at), e.reason, e.public)
        for e in recorded_case.read_model_events()
    ]
    from_history = [
        (e.seq, e.kind, e.actor.id, e.actor.role.value, e.at, e.reason, e.public)
        for e in line.entries
    ]
    assert from_history == projected
    assert [e.seq for e in line.entries] == list(range(1, len(line.entries) + 1))
    kinds = [e.kind for e in line.entries]
    for kind in (
        "opened",
        "responded",
        "information_requested",
        "customer_replied",
        "tier_escalated",
        "management_escalated",
        "severity_changed",
        "resolved",
        "closed",
    ):
        assert kind in kinds


def test_clock_events_are_marked_with_their_clock_and_due_instant(
    recorded_case: RecordedCase,
) -> None:
    line = timeline(recorded_case.histories)
    clock_events = [e for e in line.entries if e.clock_event]
    assert {e.kind for e in clock_events} == {
        "clock_started",
        "clock_paused",
        "clock_resumed",
        "clock_warned",
        "clock_breached",
        "clock_met",
        "clock_stopped",
        "clock_recomputed",
    }
    assert all(e.clock is not None and not e.public for e in clock_events)
    assert not any(e.clock_event for e in line.entries if not e.kind.startswith("clock_"))
    breaches = [(e.clock, e.due_at) for e in clock_events if e.kind == "clock_breached"]
    assert [clock for clock, _ in breaches] == [
        ClockName.tier1,
        ClockName.periodic_update,
        ClockName.resolution,
    ]
    for (_, due), breach in zip(
        breaches, [e for e in clock_events if e.kind == "clock_breached"], strict=True
    ):
        assert due is not None and due <= breach.at
    started = next(
        e for e in clock_events if e.kind == "clock_started" and e.clock is ClockName.first_response
    )
    assert started.due_at is not None and started.due_at > started.at


def test_every_entry_names_the_run_and_history_event_that_recorded_it(
    recorded_case: RecordedCase,
) -> None:
    line = timeline(recorded_case.histories)
    assert line.runs and len(line.runs) == len(recorded_case.histories)
    events = {
        event.event_id: event for history in recorded_case.histories for event in history.events
    }
    for entry in line.entries:
        assert entry.run_id in line.runs
        event = events[entry.history_event_id]
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            assert json.loads(data)["activity_type"] == PROJECT_CASE_LOCAL
        else:
            assert event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            attributes = event.activity_task_scheduled_event_attributes
            assert attributes.activity_type.name == PROJECT_CASE


def test_the_policy_that_applied_is_the_frozen_snapshot(recorded_case: RecordedCase) -> None:
    line = timeline(recorded_case.histories)
    assert line.policy.source.catalog_id == "short-sla"
    assert line.policy.plan_id == "fast"
    assert line.policy.snapshot == case_start(recorded_case.histories).plan
    assert line.policy.source.catalog_digest.startswith("sha256:")
    assert line.number == recorded_case.number
    assert line.model_dump(mode="json")["continuous"] is True


@pytest.mark.parametrize("generation", ["", "local-projection/"])
def test_a_timeline_across_continue_as_new_is_continuous(generation: str) -> None:
    """Older histories project with an activity, newer ones with a local activity."""
    runs = stored(f"{generation}continued-as-new-1", f"{generation}continued-as-new-2")
    line = timeline(runs)
    assert line.continuous, line.problems
    assert len(line.runs) == 2 and line.runs[0] != line.runs[1]
    assert [e.seq for e in line.entries] == list(range(1, len(line.entries) + 1))
    by_run = {run: [e.seq for e in line.entries if e.run_id == run] for run in line.runs}
    assert by_run[line.runs[0]] and by_run[line.runs[1]]
    assert max(by_run[line.runs[0]]) < min(by_run[line.runs[1]])
    assert line.entries[-1].kind == "closed"


def test_a_missing_run_shows_as_a_gap() -> None:
    line = timeline(stored("continued-as-new-2"))
    assert not line.continuous
    assert any("missing" in problem for problem in line.problems)


def test_a_repeated_or_misordered_run_is_reported() -> None:
    first, second = stored("continued-as-new-1", "continued-as-new-2")
    repeated = timeline([first, first, second])
    assert any("recorded twice" in problem for problem in repeated.problems)
    assert any("does not continue" in problem for problem in repeated.problems)
    # The entries are all still there: a problem is reported, not hidden.
    assert len(repeated.entries) == len(timeline([first, second]).entries) + len(
        timeline([first]).entries
    )
    backwards = timeline([second, first])
    assert not backwards.continuous
