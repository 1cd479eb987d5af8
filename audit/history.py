"""A case's Temporal histories and what the case workflow recorded in them.

Everything an auditor reads comes from here: the runs of `case-<number>` across
continue-as-new, the projections (view and new events) each run recorded, the command
that opened the case, and every accepted update and release signal. Payloads are decoded
with the same pydantic data converter the worker uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from activities.projection import PROJECT_CASE, PROJECT_CASE_LOCAL
from models.case import Actor, CaseProjected, OpenCase, case_workflow_id
from models.commands import CaseCommand
from models.registry import BY_UPDATE
from models.release import ReleaseNews
from policies.plan_snapshot import PlanSnapshot
from workflows.case import CaseStart

LOCAL_ACTIVITY_MARKER = "core_local_activity"
RELEASE_NEWS = "release_news"
# Every case update that carries a command, by update name (the registry's); `opened`
# carries none.
UPDATE_COMMANDS: dict[str, type[CaseCommand]] = {
    name: spec.command for name, spec in BY_UPDATE.items()
}
UPDATES_WITHOUT_COMMAND = frozenset({"opened"})


class CaseNotFound(LookupError):
    """No workflow `case-<number>` exists in the namespace."""

    def __init__(self, number: int) -> None:
        super().__init__(f"case {number} has no workflow history")
        self.number = number


class HistoryProblem(ValueError):
    """A history is not what a case workflow writes (no start, wrong order, bad payload)."""


class Recorded(BaseModel):
    """One projection the case workflow recorded, with where in the history it is."""

    run_id: str
    event_id: int
    event_time: datetime
    projected: CaseProjected


class RecordedCommand(BaseModel):
    """An accepted update or a release signal, as the case workflow received it."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    event_id: int
    event_time: datetime
    at: datetime
    name: str
    kind: str
    update_id: str | None = None
    actor: Actor
    # Serialised with the concrete command's fields (the declared type is the base class).
    command: SerializeAsAny[CaseCommand] | ReleaseNews


def event_time(event: HistoryEvent) -> datetime:
    """A history event's time as an aware UTC datetime."""
    return event.event_time.ToDatetime(tzinfo=UTC)


def workflow_time(event: HistoryEvent) -> datetime:
    """An event's time as the workflow sees it (`workflow.now()` rounds it through a float)."""
    return datetime.fromtimestamp(event.event_time.ToNanoseconds() / 1e9, UTC)


def run_id(history: WorkflowHistory) -> str:
    """The run id of a history, read from its started event."""
    started = _started(history)
    return started.original_execution_run_id or started.first_execution_run_id


def continued_from(history: WorkflowHistory) -> str | None:
    """The run this run continues as new, or None for a case's first run."""
    return _started(history).continued_execution_run_id or None


def _started(history: WorkflowHistory) -> Any:
    if not history.events or (
        history.events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ):
        raise HistoryProblem(f"{history.workflow_id}: the history does not begin with its start")
    return history.events[0].workflow_execution_started_event_attributes


def _decode(payloads: Sequence[Payload], model: type[Any]) -> Any:
    if not payloads:
        raise HistoryProblem(f"no payload where a {model.__name__} was expected")
    return pydantic_data_converter.payload_converter.from_payloads([payloads[0]], [model])[0]


async def case_histories(client: Client, number: int) -> list[WorkflowHistory]:
    """Every run of case `number`'s workflow, oldest first, across continue-as-new."""
    workflow_id = case_workflow_id(number)
    try:
        latest = await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(number) from err
        raise
    first_run = _started(latest).first_execution_run_id
    histories: list[WorkflowHistory] = []
    next_run: str | None = first_run
    while next_run:
        history = await client.get_workflow_handle(workflow_id, run_id=next_run).fetch_history()
        histories.append(history)
        next_run = _continued_as(history)
    return histories


def _continued_as(history: WorkflowHistory) -> str | None:
    last = history.events[-1] if history.events else None
    if last is None or last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return None
    new_run: str = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return new_run


def histories_to_json(histories: Sequence[WorkflowHistory]) -> str:
    """Histories as one JSON document: the workflow id and each run's `to_json()` form."""
    workflow_id = histories[0].workflow_id if histories else ""
    runs = [json.loads(history.to_json()) for history in histories]
    return json.dumps({"workflow_id": workflow_id, "runs": runs}, sort_keys=True)


def histories_from_json(text: str) -> list[WorkflowHistory]:
    """Histories back from `histories_to_json` output."""
    document = json.loads(text)
    return [WorkflowHistory.from_json(document["workflow_id"], run) for run in document["runs"]]


# How each kind of history event may carry a CaseProjected: a function from the event to
# its payloads, or None when this event is not a projection. A local-activity projection
# (a `MarkerRecorded` marker) becomes one more entry here.
ProjectionPayloads = Callable[[HistoryEvent], Sequence[Payload] | None]


def _scheduled_projection(event: HistoryEvent) -> Sequence[Payload] | None:
    attributes = event.activity_task_scheduled_event_attributes
    if attributes.activity_type.name != PROJECT_CASE:
        return None
    return list(attributes.input.payloads)


def _local_projection(event: HistoryEvent) -> Sequence[Payload] | None:
    # Behind workflow.patched("projection-local-activity"): a local activity's input is not
    # in the history, so it returns the CaseProjected and its marker keeps the result.
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != LOCAL_ACTIVITY_MARKER or attributes.HasField("failure"):
        return None
    data = attributes.details["data"].payloads if "data" in attributes.details else []
    if not data or json.loads(data[0].data).get("activity_type") != PROJECT_CASE_LOCAL:
        return None
    return list(attributes.details["result"].payloads) if "result" in attributes.details else None


PROJECTION_SOURCES: dict[EventType.ValueType, ProjectionPayloads] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: _scheduled_projection,
    EventType.EVENT_TYPE_MARKER_RECORDED: _local_projection,
}


def projections(history: WorkflowHistory) -> list[Recorded]:
    """Every projection (view and new events) the case workflow recorded in one run: the
    input of each `project_case` activity, or the result of each `project_case_local`
    local activity's marker."""
    run = run_id(history)
    recorded: list[Recorded] = []
    for event in history.events:
        source = PROJECTION_SOURCES.get(event.event_type)
        payloads = source(event) if source else None
        if payloads is None:
            continue
        recorded.append(
            Recorded(
                run_id=run,
                event_id=event.event_id,
                event_time=event_time(event),
                projected=_decode(payloads, CaseProjected),
            )
        )
    return recorded


def _case_start_input(history: WorkflowHistory) -> CaseStart:
    start: CaseStart = _decode(list(_started(history).input.payloads), CaseStart)
    return start


def case_start(histories: Sequence[WorkflowHistory]) -> OpenCase:
    """The command that opened the case, with its frozen plan snapshot."""
    if not histories:
        raise HistoryProblem("no history")
    start = _case_start_input(histories[0])
    if start.open is None:
        raise HistoryProblem(
            f"{histories[0].workflow_id}: the first run given continues an earlier one"
        )
    return start.open


def case_plan(histories: Sequence[WorkflowHistory]) -> tuple[PlanSnapshot, int]:
    """The case's frozen plan and number, from its first run given (opened or carried)."""
    if not histories:
        raise HistoryProblem("no history")
    start = _case_start_input(histories[0])
    if start.open is not None:
        return start.open.plan, start.open.number
    if start.carried is not None:
        return start.carried.plan, start.carried.number
    raise HistoryProblem(f"{histories[0].workflow_id}: the start carries no case")


def task_times(history: WorkflowHistory) -> dict[int, datetime]:
    """The workflow time (`workflow.now()`) of each completed workflow task, by the id of
    its WorkflowTaskCompleted event."""
    times: dict[int, datetime] = {}
    started: dict[int, datetime] = {}
    last_started: datetime | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            last_started = started[event.event_id] = workflow_time(event)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            # The test server leaves `started_event_id` unset: the latest start is the one.
            started_id = event.workflow_task_completed_event_attributes.started_event_id
            at = started.get(started_id, last_started)
            if at is None:
                raise HistoryProblem(f"event {event.event_id}: a task completed unstarted")
            times[event.event_id] = at
    return times


def commands(histories: Sequence[WorkflowHistory]) -> list[RecordedCommand]:
    """Every accepted update with its command and every release signal, in order."""
    found: list[RecordedCommand] = []
    for history in histories:
        run = run_id(history)
        times = task_times(history)
        completed_task: int | None = None
        waiting_signals: list[RecordedCommand] = []
        for event in history.events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                completed_task = event.event_id
                # A signal takes effect in the next workflow task after it arrived.
                for signal in waiting_signals:
                    found.append(signal.model_copy(update={"at": times[event.event_id]}))
                waiting_signals = []
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                name = request.input.name
                if name in UPDATES_WITHOUT_COMMAND:
                    continue
                model = UPDATE_COMMANDS.get(name)
                if model is None:
                    raise HistoryProblem(f"event {event.event_id}: unknown update {name!r}")
                if completed_task is None:
                    raise HistoryProblem(f"event {event.event_id}: update before any task")
                command: CaseCommand = _decode(list(request.input.args.payloads), model)
                found.append(
                    RecordedCommand(
                        run_id=run,
                        event_id=event.event_id,
                        event_time=event_time(event),
                        at=times[completed_task],
                        name=name,
                        kind="update",
                        update_id=request.meta.update_id,
                        actor=command.actor,
                        command=command,
                    )
                )
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                attributes = event.workflow_execution_signaled_event_attributes
                if attributes.signal_name != RELEASE_NEWS:
                    continue
                news: ReleaseNews = _decode(list(attributes.input.payloads), ReleaseNews)
                waiting_signals.append(
                    RecordedCommand(
                        run_id=run,
                        event_id=event.event_id,
                        event_time=event_time(event),
                        at=event_time(event),
                        name=RELEASE_NEWS,
                        kind="signal",
                        actor=news.actor,
                        command=news,
                    )
                )
        # Signals no workflow task handled (the run ended first) are left out: they did nothing.
    return found
