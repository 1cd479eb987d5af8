"""A long case continues as new without losing an update, an event or a notification.

The dev server here suggests continue-as-new after 60 history events (instead of 4,096),
so a few dozen updates roll a case over several times.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.read_model import CaseEventRecord, NotificationRecord
from models.case import CaseRouting, CaseView, case_workflow_id
from models.clocks import ClockView
from models.commands import (
    AddInternalNote,
    ChangeSeverity,
    RequestManagementEscalation,
    RespondPublicly,
)
from tests.builders import AGENT, CUSTOMER, open_case
from tests.conftest import VENV_BIN
from worker import build_worker
from workflows.case import CaseStart, CaseWorkflow, execute_command
from workflows.search_attributes import ALL_KEYS

SUGGEST_AFTER_EVENTS = 60
TIMEOUT = 60.0
T = TypeVar("T")

CaseHandle = WorkflowHandle[CaseWorkflow, CaseView]


@pytest.fixture(scope="module")
async def short_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    )
    yield env
    await env.shutdown()


class Webhooks:
    """A webhook endpoint that answers 503 while told to refuse an event (or all)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.refuse_all = False
        self.refused_seqs: set[int] = set()
        self.lock = threading.Lock()

    def accept(self, body: dict[str, Any]) -> bool:
        with self.lock:
            if self.refuse_all or body["event_seq"] in self.refused_seqs:
                return False
            self.delivered.append(body["key"])
            return True


@pytest.fixture
def webhooks() -> Iterator[tuple[Webhooks, str]]:
    hooks = Webhooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204 if hooks.accept(body) else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hooks, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = TIMEOUT) -> T:
    """Poll `check` until it returns something other than None or False."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value is not None and value is not False:
                return value
            await asyncio.sleep(0.05)


def read(engine: Engine, model: Any, number: int) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model).where(model.case_number == number)))


def notification(engine: Engine, key_part: str) -> NotificationRecord | None:
    with Session(engine) as session:
        query = select(NotificationRecord).where(
            NotificationRecord.key.contains(key_part)  # type: ignore[attr-defined]
        )
        return session.exec(query).first()


async def run_ids(client: Client, workflow_id: str, first_run_id: str) -> list[str]:
    """The runs of a case so far, following each continue-as-new to the next run."""
    runs = [first_run_id]
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=runs[-1]).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        attributes = last.workflow_execution_continued_as_new_event_attributes
        runs.append(attributes.new_execution_run_id)


async def rollover_suggested(handle: CaseHandle) -> bool:
    """Whether the current run's workflow tasks have been told to continue as new."""
    history = await handle.fetch_history()
    return any(
        event.workflow_task_started_event_attributes.suggest_continue_as_new
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )


def clock_facts(view: CaseView) -> list[tuple[Any, ...]]:
    """What a clock promises, leaving out what moves with the wall clock."""

    def facts(c: ClockView) -> tuple[Any, ...]:
        return (c.name, c.state, c.target, c.due_at, c.warned, c.breached, c.met)

    return [facts(c) for c in view.clocks]


async def test_case_continues_as_new_without_losing_anything(
    short_history_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    webhooks: tuple[Webhooks, str],
) -> None:
    hooks, hook_url = webhooks
    client = short_history_env.client
    number = 77
    command = open_case(
        number,
        "short-sla:fast",
        datetime.now(UTC),
        routing=CaseRouting(customer_webhook=hook_url),
        severity="critical",
    )
    notes: list[str] = []

    async def add_notes(count: int) -> None:
        batch = [f"note {len(notes) + i}" for i in range(count)]
        notes.extend(batch)
        await asyncio.gather(
            *(
                execute_command(handle, AddInternalNote(actor=AGENT, note=note), id=note)
                for note in batch
            )
        )

    async with build_worker(client, sqlite_engine, task_queue, activity_executor):
        started: CaseHandle = await client.start_workflow(
            CaseWorkflow.run,
            CaseStart(open=command),
            id=case_workflow_id(number),
            task_queue=task_queue,
        )
        first_run = started.first_execution_run_id
        assert first_run is not None
        # Addressed by workflow id alone, so every call reaches the current run.
        handle: CaseHandle = client.get_workflow_handle_for(
            CaseWorkflow.run, case_workflow_id(number)
        )
        await handle.execute_update(CaseWorkflow.opened)
        await execute_command(
            handle,
            RequestManagementEscalation(actor=CUSTOMER, reason="production is down"),
        )
        await execute_command(
            handle,
            ChangeSeverity(actor=AGENT, severity="normal", reason="a workaround exists"),
        )

        # The customer's endpoint goes down: the first response's webhook keeps failing,
        # so when the run is told to roll over it has a delivery to finish first.
        hooks.refuse_all = True
        await execute_command(handle, RespondPublicly(actor=AGENT, message="We are on it."))
        before = await handle.query(CaseWorkflow.view)
        while not await rollover_suggested(handle):
            await add_notes(3)
        assert await run_ids(client, handle.id, first_run) == [first_run]

        # An update sent while the run is rolling over, with a delivery of its own that
        # fails until after the earlier ones succeed.
        late = await execute_command(handle, RespondPublicly(actor=AGENT, message="Still on it."))
        late_seq = next(
            e.seq
            for e in read(sqlite_engine, CaseEventRecord, number)
            if e.kind == "responded" and e.seq <= late.seq and e.reason == "Still on it."
        )
        with hooks.lock:
            hooks.refused_seqs = {late_seq}
            hooks.refuse_all = False

        async def earlier_deliveries_sent() -> bool:
            records = read(sqlite_engine, NotificationRecord, number)
            return all(r.status == "sent" for r in records if r.event_seq < late_seq)

        await eventually(earlier_deliveries_sent)
        with hooks.lock:
            hooks.refused_seqs = set()

        async def rolled_over() -> list[str] | None:
            runs = await run_ids(client, handle.id, first_run)
            return runs if len(runs) > 1 else None

        await eventually(rolled_over)
        late_delivery = await eventually(
            lambda: asyncio.to_thread(notification, sqlite_engine, f"/{late_seq}/webhook")
        )
        assert late_delivery.status == "sent"

        # Many more notes, in bursts, over further rollovers.
        while len(await run_ids(client, handle.id, first_run)) < 3:
            await add_notes(8)
        await add_notes(8)
        after = await handle.query(CaseWorkflow.view)
        runs = await run_ids(client, handle.id, first_run)
        description = await handle.describe()
        await handle.terminate("test over")

    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.run_id == runs[-1]
    assert len(runs) >= 3
    # The state carried over: escalation, severity, clocks, sequence.
    assert (after.escalation_level, after.severity) == (1, "normal")
    assert (after.opened_at, after.details) == (before.opened_at, before.details)
    assert clock_facts(after)[:1] == clock_facts(before)[:1]  # the first response was met
    assert clock_facts(after)[2:] == clock_facts(before)[2:]  # resolution, tier 1

    events = read(sqlite_engine, CaseEventRecord, number)
    assert sorted(e.seq for e in events) == list(range(1, after.seq + 1))
    noted = [e.reason for e in events if e.kind == "note_added"]
    assert sorted(noted) == sorted(notes)  # each once; a burst's order is the server's
    responded = [e for e in events if e.kind == "responded"]
    assert [e.reason for e in responded] == ["We are on it.", "Still on it."]

    records = read(sqlite_engine, NotificationRecord, number)
    assert {r.status for r in records} == {"sent"}
    assert sorted(hooks.delivered) == sorted(r.key for r in records)


async def test_clocks_fire_while_a_rollover_waits_for_a_delivery(
    short_history_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    webhooks: tuple[Webhooks, str],
) -> None:
    hooks, hook_url = webhooks
    hooks.refuse_all = True  # the customer's endpoint is down from the start
    client = short_history_env.client
    number = 78
    command = open_case(
        number,
        "short-sla:instant",  # first response 5 s: it falls due during the rollover
        datetime.now(UTC),
        routing=CaseRouting(customer_webhook=hook_url),
        severity="critical",
    )
    async with build_worker(client, sqlite_engine, task_queue, activity_executor):
        started: CaseHandle = await client.start_workflow(
            CaseWorkflow.run,
            CaseStart(open=command),
            id=case_workflow_id(number),
            task_queue=task_queue,
        )
        first_run = started.first_execution_run_id
        assert first_run is not None
        handle: CaseHandle = client.get_workflow_handle_for(
            CaseWorkflow.run, case_workflow_id(number)
        )
        await handle.execute_update(CaseWorkflow.opened)
        count = 0
        while not await rollover_suggested(handle):
            await execute_command(handle, AddInternalNote(actor=AGENT, note=f"note {count}"))
            count += 1
        opened = await handle.query(CaseWorkflow.view)
        assert not opened.breached, "the notes took longer than the first-response target"

        # The run waits for the opening's webhook to go through before rolling over;
        # the first-response breach must not wait with it.
        async def breached() -> bool:
            events = read(sqlite_engine, CaseEventRecord, number)
            return any(e.kind == "clock_breached" for e in events)

        await eventually(breached)
        assert await run_ids(client, handle.id, first_run) == [first_run]
        view = await handle.query(CaseWorkflow.view)
        assert view.escalation_level == 1

        hooks.refuse_all = False

        async def rolled_over() -> bool:
            return len(await run_ids(client, handle.id, first_run)) > 1

        await eventually(rolled_over)
        records = read(sqlite_engine, NotificationRecord, number)
        after = await handle.query(CaseWorkflow.view)
        await handle.terminate("test over")

    assert {r.status for r in records} == {"sent"}
    assert {r.event_kind for r in records} >= {"opened", "management_escalated"}
    assert after.escalation_level == 1
    assert after.seq == view.seq
