"""A case as it stood at an instant, rebuilt from its Temporal history alone, equals what
the workflow itself reported at that instant."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from audit.asof import CaseNeverOpened, NotOpenYet, case_as_of, state_as_of
from audit.history import task_times
from audit.timeline import timeline
from models import transitions
from models.case import CaseStatus, CaseView
from models.clocks import ClockState
from tests.audit.conftest import RecordedCase, stored


def clock_facts(view: CaseView) -> list[tuple[object, ...]]:
    return [
        (c.name, c.state, c.elapsed_seconds, c.remaining_seconds, c.due_at, c.warned, c.breached)
        for c in view.clocks
    ]


async def test_the_state_at_each_instant_equals_what_the_workflow_reported(
    recorded_case: RecordedCase,
) -> None:
    histories = recorded_case.histories
    assert len(recorded_case.checkpoints) >= 8
    for point in recorded_case.checkpoints:
        rebuilt = await case_as_of(histories, point.at)
        assert rebuilt.state == point.state, point.label
        expected = transitions.view(point.state, point.at)
        assert rebuilt.view == expected, point.label
        assert (rebuilt.view.status, rebuilt.view.tier) == (point.view.status, point.view.tier)
        assert rebuilt.view.escalation_level == point.view.escalation_level, point.label
        # The `view` query answers at the time of the workflow's last task.
        assert await state_as_of(histories, rebuilt.task_time) == point.view, point.label


async def test_the_instants_cover_every_kind_of_clock_state(recorded_case: RecordedCase) -> None:
    views = {
        point.label: await state_as_of(recorded_case.histories, point.at)
        for point in recorded_case.checkpoints
    }
    running = views["running"]
    assert running.status is CaseStatus.tier1
    assert all(c.state is ClockState.running for c in running.clocks)
    # Ten minutes were skipped; the test server's clock also moves on in real time, by
    # more than a second or two on a busy machine.
    (elapsed,) = {c.elapsed_seconds for c in running.clocks}
    assert 600 <= elapsed <= 660
    waiting = views["waiting on the customer"]
    assert waiting.status is CaseStatus.waiting_on_customer
    paused = [c for c in waiting.clocks if c.state is ClockState.paused]
    assert len(paused) == 3 and all(c.due_at is None for c in paused)
    assert views["tier-1 target breached"].tier == 2
    assert views["periodic update breached"].escalation_level == 1
    assert views["severity changed"].severity == "critical"
    assert views["resolution breached"].escalation_level == 3
    assert views["resolved"].status is CaseStatus.resolved
    assert views["closed"].status is CaseStatus.closed


async def test_between_tasks_the_clocks_run_on(recorded_case: RecordedCase) -> None:
    """An instant between two workflow tasks: same state, clocks read at that instant."""
    running = recorded_case.checkpoints[0]
    earlier = running.at - timedelta(minutes=4)
    view = await state_as_of(recorded_case.histories, earlier)
    later = await state_as_of(recorded_case.histories, running.at)
    assert view.seq == later.seq == running.state.seq
    for before, after in zip(view.clocks, later.clocks, strict=True):
        assert abs(after.elapsed_seconds - before.elapsed_seconds - 240) <= 1
        assert before.due_at == after.due_at


async def test_before_the_case_opened_is_an_error(recorded_case: RecordedCase) -> None:
    with pytest.raises(NotOpenYet):
        await state_as_of(recorded_case.histories, recorded_case.opened_at - timedelta(seconds=1))
    opened = await state_as_of(recorded_case.histories, recorded_case.opened_at)
    assert opened.seq >= 1 and opened.status is CaseStatus.tier1


async def test_after_the_end_it_is_the_final_state(recorded_case: RecordedCase) -> None:
    final = recorded_case.final
    assert final is not None and final.status is CaseStatus.closed
    later = await state_as_of(recorded_case.histories, final.updated_at + timedelta(days=30))
    assert later.status is CaseStatus.closed
    assert later.seq == final.seq
    assert clock_facts(later) == clock_facts(final)


async def test_across_continue_as_new_each_instant_reads_its_own_run() -> None:
    runs = stored("local-projection/continued-as-new-1", "local-projection/continued-as-new-2")
    line = timeline(runs)
    for history in runs:
        for at in task_times(history).values():
            rebuilt = await case_as_of(runs, at)
            assert rebuilt.state.seq == max(e.seq for e in line.entries if e.at <= at)
    first_task = min(task_times(runs[1]).values())
    assert (await case_as_of(runs, first_task)).run_id == line.runs[1]
    assert (await case_as_of(runs, first_task - timedelta(microseconds=1))).run_id == line.runs[0]


async def test_a_refused_case_has_no_state() -> None:
    refused = stored("refused")
    with pytest.raises(CaseNeverOpened):
        await state_as_of(refused, refused[0].events[-1].event_time.ToDatetime(tzinfo=UTC))
