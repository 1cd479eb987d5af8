"""A case as it stood at a past instant, rebuilt by replaying its Temporal history through
the real workflow code (not read from the read model).

The run active at the instant is cut after the last workflow task that started at or
before it (the task's `workflow.now()`), replayed with the worker's sandbox and data
converter, and the workflow object's state is read back through an interceptor. Every
clock is then viewed at the instant itself, as the workflow's own view would show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from audit.history import HistoryProblem, run_id, task_times
from models import transitions
from models.case import CaseState, CaseView
from runtime import sandboxed_runner
from workflows.case import CaseWorkflow


class NotOpenYet(ValueError):
    """The instant asked for comes before the case's first workflow task."""


class CaseNeverOpened(ValueError):
    """The case workflow refused to open the case, so it has no state at any instant."""


class ReplayFailed(RuntimeError):
    """The history does not replay against the current workflow code."""


class CaseAsOf(BaseModel):
    """A case's state and view at an instant, and which part of which run they come from."""

    at: datetime
    run_id: str
    task_event_id: int = Field(description="WorkflowTaskCompleted of the last task replayed")
    task_time: datetime = Field(description="workflow.now() of the last task replayed")
    state: CaseState
    view: CaseView


def _capturing(instances: list[Any]) -> Interceptor:
    """An interceptor that hands out the workflow object each replay creates."""

    class Capture(WorkflowInboundInterceptor):
        async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
            instances.append(workflow.instance())
            return await super().execute_workflow(input)

    class CaptureInterceptor(Interceptor):
        def workflow_interceptor_class(
            self, input: WorkflowInterceptorClassInput
        ) -> type[WorkflowInboundInterceptor]:
            return Capture

    return CaptureInterceptor()


# What a workflow task's completion writes after its WorkflowTaskCompleted event: kept
# with the task, so an update accepted in it is replayed with it.
TASK_OUTPUT = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_TIMER_CANCELED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


def cut_at(
    histories: Sequence[WorkflowHistory], at: datetime
) -> tuple[WorkflowHistory, int, datetime]:
    """The run active at `at`, cut after the last workflow task started by then (and what
    that task wrote); the task's WorkflowTaskCompleted event id and `workflow.now()`."""
    chosen: tuple[WorkflowHistory, int, datetime] | None = None
    for history in histories:
        done = [(event_id, time) for event_id, time in task_times(history).items() if time <= at]
        if done:
            event_id, time = max(done)
            chosen = (history, event_id, time)
    if chosen is None:
        raise NotOpenYet(f"the case had not opened at {at.isoformat()}")
    history, event_id, time = chosen
    events = list(history.events)
    end = next(i for i, event in enumerate(events) if event.event_id == event_id) + 1
    while end < len(events) and events[end].event_type in TASK_OUTPUT:
        end += 1
    return WorkflowHistory(history.workflow_id, events[:end]), event_id, time


async def replayed_state(history: WorkflowHistory) -> CaseState:
    """The case workflow's state after replaying `history` with the worker's settings
    (the calling process pins the time-zone data at its start: `runtime`)."""
    instances: list[Any] = []
    replayer = Replayer(
        workflows=[CaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=sandboxed_runner(),
        interceptors=[_capturing(instances)],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        raise ReplayFailed(f"{history.workflow_id}: {result.replay_failure}")
    if not instances:
        raise HistoryProblem(f"{history.workflow_id}: the replay ran no case workflow")
    instance = instances[-1]
    if getattr(instance, "_refusal", None) is not None or not hasattr(instance, "_state"):
        raise CaseNeverOpened(f"{history.workflow_id}: {getattr(instance, '_refusal', '')}")
    state: CaseState = instance._state
    return state


async def case_as_of(histories: Sequence[WorkflowHistory], at: datetime) -> CaseAsOf:
    """The case's state and view at `at`, with the run and event they were replayed to."""
    if at.tzinfo is None:
        raise ValueError("the instant must carry a time zone")
    history, event_id, task_time = cut_at(histories, at)
    state = await replayed_state(history)
    return CaseAsOf(
        at=at,
        run_id=run_id(history),
        task_event_id=event_id,
        task_time=task_time,
        state=state,
        view=transitions.view(state, at),
    )


async def state_as_of(histories: Sequence[WorkflowHistory], at: datetime) -> CaseView:
    """The case, every clock included, as it stood at instant `at`."""
    return (await case_as_of(histories, at)).view
