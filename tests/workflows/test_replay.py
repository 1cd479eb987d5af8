"""The replay gate: every stored case history replays against the current workflow code.

A change that running cases would replay differently fails here; put it behind
`workflow.patched(...)` and record a history that proves the patch (see
`tests/histories/record.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.workflow import NondeterminismError

from runtime import sandboxed_runner
from tests.workflows.changed_case import CaseWorkflowReadingTheClock, CaseWorkflowWithAnExtraTimer
from workflows.case import CaseWorkflow
from workflows.quota import QuotaWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"
# One directory per generation of the workflow: the top level was recorded before the
# `projection-local-activity` patch, `local-projection/` after it, `kept-timer/` after
# the `kept-deadline-timer` patch as well.
LOCAL_PROJECTION = [HISTORIES / "local-projection", HISTORIES / "kept-timer"]
GENERATIONS = [HISTORIES, *LOCAL_PROJECTION]
STORED = sorted(HISTORIES.rglob("*.json"))
# What the stored cases went through between them; each must stay covered.
REQUIRED = {
    "opened",
    "responded-resolved-closed",
    "waited-on-customer",
    "breached-escalated",
    "tier1-target-moved",
    "closed-out-of-scope",
    "reopened",
    "refused",
    "continued-as-new-1",
    "continued-as-new-2",
}


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def replayer(*workflows: type, runner: WorkflowRunner | None = None) -> Replayer:
    """The worker's converter, in the sandbox (as the audit replay gate runs it) unless
    another runner is given."""
    return Replayer(
        workflows=list(workflows) or [CaseWorkflow, QuotaWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=runner or sandboxed_runner(),
    )


@pytest.mark.parametrize("generation", GENERATIONS, ids=lambda path: path.name)
def test_every_kind_of_case_has_a_stored_history(generation: Path) -> None:
    stored = sorted(generation.glob("*.json"))
    assert REQUIRED <= {path.stem for path in stored}
    last = {path.stem: load(path).events[-1].event_type for path in stored}
    assert last["continued-as-new-1"] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert last["refused"] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    for name in ("responded-resolved-closed", "reopened", "closed-out-of-scope"):
        assert last[name] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


def local_activities(history: WorkflowHistory) -> int:
    return sum(
        event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    )


def test_each_generation_records_projection_its_own_way() -> None:
    """The old histories project through activities, the new ones through local ones;
    replaying both proves the patch keeps running cases of either kind going."""
    for path in HISTORIES.glob("*.json"):
        assert local_activities(load(path)) == 0, path.name
    for path in (path for generation in LOCAL_PROJECTION for path in generation.glob("*.json")):
        history = load(path)
        scheduled = [
            event.activity_task_scheduled_event_attributes.activity_type.name
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert "project_case" not in scheduled, path.name
        if path.stem != "refused":
            assert local_activities(history) > 0, path.name


def timers_started(history: WorkflowHistory) -> int:
    return sum(event.event_type == EventType.EVENT_TYPE_TIMER_STARTED for event in history.events)


def test_the_kept_timer_generation_starts_fewer_timers() -> None:
    """The run of notes that rolled over: before the patch every note cancelled and
    started the deadline timer again; after it, one timer serves every note."""
    older = load(HISTORIES / "local-projection" / "continued-as-new-1.json")
    kept = load(HISTORIES / "kept-timer" / "continued-as-new-1.json")
    assert timers_started(older) > 1
    assert timers_started(kept) == 1


RUNNERS = {"sandboxed": sandboxed_runner, "unsandboxed": UnsandboxedWorkflowRunner}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("path", STORED, ids=[str(path.relative_to(HISTORIES)) for path in STORED])
async def test_stored_history_replays(path: Path, runner: str) -> None:
    """Under the sandbox (tests, the audit gate) and without it (the worker's default),
    every history replays: the runner never changes what a case does."""
    replaying = replayer(runner=RUNNERS[runner]())
    result = await replaying.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_the_sandbox_refuses_the_clock_in_workflow_code() -> None:
    """Why the tests and the gate run the sandbox: without it, reading the machine's
    clock in workflow code goes unnoticed until a replay computes another deadline."""
    history = load(HISTORIES / "local-projection" / "opened.json")
    workflows = (CaseWorkflowReadingTheClock, QuotaWorkflow)
    sandboxed = await replayer(*workflows).replay_workflow(history, raise_on_replay_failure=False)
    assert "Cannot access datetime.datetime.now" in str(sandboxed.replay_failure)
    unsandboxed = await replayer(*workflows, runner=UnsandboxedWorkflowRunner()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert unsandboxed.replay_failure is None


async def test_the_gate_catches_a_changed_workflow() -> None:
    history = load(HISTORIES / "responded-resolved-closed.json")
    result = await replayer(CaseWorkflowWithAnExtraTimer, QuotaWorkflow).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
