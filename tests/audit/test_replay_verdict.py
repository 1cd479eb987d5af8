"""Replay verdicts over the stored case histories, and the gate against changed code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from rich.console import Console
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from audit.replay import (
    CaseHistories,
    Status,
    Verdict,
    render_summary,
    replay_case,
    replay_cases,
)
from runtime import sandboxed_runner
from tests.workflows.changed_case import CaseWorkflowWithAnExtraTimer
from workflows.case import CaseStart
from workflows.quota import QuotaWorkflow
from workflows.release import ReleaseWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"
CHANGED = [CaseWorkflowWithAnExtraTimer, QuotaWorkflow, ReleaseWorkflow]
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
CONTINUED = ("continued-as-new-1", "continued-as-new-2")


def load(stem: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(stem, (HISTORIES / f"{stem}.json").read_text())


def stored_cases() -> list[tuple[int, list[WorkflowHistory]]]:
    """Every stored history as a case of its own, the two continued-as-new runs as one."""
    stems = sorted(path.stem for path in HISTORIES.glob("*.json"))
    singles = [stem for stem in stems if stem not in CONTINUED]
    cases = [(number, [load(stem)]) for number, stem in enumerate(singles, start=1)]
    cases.append((len(cases) + 1, [load(stem) for stem in CONTINUED]))
    return cases


def first_difference(recorded: list[HistoryEvent], stored: list[HistoryEvent]) -> int:
    """The id of the first event whose type differs between two histories."""
    for ours, theirs in zip(recorded, stored, strict=False):
        if ours.event_type != theirs.event_type:
            return ours.event_id
    raise AssertionError("the histories agree as far as both go")


def tampered(stem: str, activity: str) -> tuple[WorkflowHistory, int]:
    """A stored history whose last scheduled `activity` claims another activity type."""
    history = load(stem)
    scheduled = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]
    scheduled[-1].activity_task_scheduled_event_attributes.activity_type.name = "forged"
    return history, scheduled[-1].event_id


async def test_each_stored_history_is_intact() -> None:
    for _, runs in stored_cases():
        verdict = await replay_case(runs)
        assert verdict.status is Status.intact, verdict
        assert verdict.runs == verdict.runs_replayed == len(runs)
        assert verdict.events_replayed == sum(len(run.events) for run in runs)
        assert verdict.diverging_event is None and verdict.error is None


async def test_a_continued_case_replays_both_runs_in_order() -> None:
    first, second = load(CONTINUED[0]), load(CONTINUED[1])
    verdict = await replay_case([first, second])
    assert verdict.intact and verdict.runs_replayed == 2
    assert verdict.events_replayed == len(first.events) + len(second.events)

    backwards = await replay_case([second, first])
    assert backwards.status is Status.error and backwards.runs_replayed == 0
    assert backwards.error is not None and "out of order" in backwards.error


async def test_a_changed_workflow_diverges_where_its_history_differs(dev_client: Client) -> None:
    stored = load("responded-resolved-closed")
    verdict = await replay_case([stored], workflows=CHANGED)

    assert verdict.status is Status.diverged, verdict
    event = verdict.diverging_event
    assert event is not None and event.run_id == stored.run_id
    assert "Nondeterminism" in event.reason

    # Run the changed code on the stored case's input on a real server: its history
    # parts from the stored one at the event the verdict names.
    client = dev_client
    start = stored.events[0].workflow_execution_started_event_attributes
    [case_start] = await pydantic_data_converter.decode(start.input.payloads, [CaseStart])
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflowWithAnExtraTimer],
        workflow_runner=sandboxed_runner(),
    ):
        handle = await client.start_workflow(
            CaseWorkflowWithAnExtraTimer.run,
            case_start,
            id=f"changed-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        recorded: list[HistoryEvent] = []
        async for recorded_event in handle.fetch_history_events(wait_new_event=True):
            recorded.append(recorded_event)
            # Enough once the first workflow task's first command is recorded.
            if recorded[-2:-1] and recorded[-2].event_type == TASK_COMPLETED:
                break
        await handle.terminate("compared")

    differs_at = first_difference(recorded, list(stored.events))
    assert event.event_id == differs_at
    assert event.event_type == EventType.Name(stored.events[differs_at - 1].event_type)
    assert recorded[differs_at - 1].event_type == EventType.EVENT_TYPE_TIMER_STARTED


async def test_a_forged_history_diverges_and_an_unnamed_event_is_said_so() -> None:
    history, forged_at = tampered("responded-resolved-closed", "deliver_notification")
    verdict = await replay_case([history])

    assert verdict.status is Status.diverged, verdict
    event = verdict.diverging_event
    assert event is not None and "forged" in event.reason
    # This message of the SDK names the activity types but no event id.
    assert event.event_id is None and event.event_type is None
    assert "not named" in event.where
    assert forged_at > 5


async def test_bulk_replay_reports_every_case_and_counts() -> None:
    cases = stored_cases()
    seen: list[tuple[int, Verdict]] = []
    summary = await replay_cases(cases, on_progress=lambda n, v: seen.append((n, v)))

    assert [number for number, _ in seen] == [number for number, _ in cases]
    assert summary.cases == len(cases) == summary.intact and summary.ok
    assert summary.diverged == summary.errors == 0
    assert summary.runs == len(list(HISTORIES.glob("*.json")))
    assert summary.events == sum(len(run.events) for _, runs in cases for run in runs)
    assert summary.verdicts == dict(seen)
    assert summary.seconds > 0


async def test_bulk_replay_of_mixed_verdicts_from_an_async_source() -> None:
    forged, _ = tampered("reopened", "project_case")
    mixed: list[CaseHistories] = [
        (1, [load("opened")]),
        (2, [forged]),
        (3, []),
        (4, [load(CONTINUED[0]), load(CONTINUED[1])]),
        (5, [load("closed-out-of-scope")]),
    ]

    async def source() -> AsyncIterator[CaseHistories]:
        for case in mixed:
            yield case

    progress: list[int] = []
    summary = await replay_cases(source(), on_progress=lambda n, _: progress.append(n))

    assert progress == [1, 2, 3, 4, 5]
    assert (summary.cases, summary.intact, summary.diverged, summary.errors) == (5, 3, 1, 1)
    assert not summary.ok
    assert summary.verdicts[2].status is Status.diverged
    assert summary.verdicts[3].status is Status.error and summary.verdicts[3].runs == 0


async def test_bulk_replay_against_changed_code_diverges_every_case() -> None:
    cases = stored_cases()
    seen: list[int] = []
    summary = await replay_cases(cases, on_progress=lambda n, _: seen.append(n), workflows=CHANGED)

    assert seen == [number for number, _ in cases]
    assert summary.diverged == summary.cases == len(cases)
    continued = summary.verdicts[cases[-1][0]]
    # The first run diverges, so the second is not replayed.
    assert (continued.runs, continued.runs_replayed) == (2, 1)
    for verdict in summary.verdicts.values():
        event = verdict.diverging_event
        assert event is not None and event.event_id is not None and event.event_type

    console = Console(record=True, width=200)
    console.print(render_summary(summary))
    text = console.export_text()
    assert f"{len(cases)} diverged" in text
    assert f"event {continued.diverging_event.event_id if continued.diverging_event else 0}" in text
    assert "not intact" in text
    totals = next(line for line in text.splitlines() if line.strip("│ ").startswith("all "))
    assert "runs/s" not in totals  # the rate is in the caption, not in the reason column
    assert "runs/s" in text
