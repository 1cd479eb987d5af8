"""A worker killed with SIGKILL mid-case loses nothing and sends nothing twice.

The worker runs in a process of its own (`worker_process.py`) against the dev server,
a SQLite read model, a real SMTP server and a real webhook receiver. Real seconds pass:
the case is on `short-sla:instant` (first response 5 s, resolution 20 s), and every wait
polls a condition with a deadline. The test takes about 35 s: the server retries the
delivery the killed worker was making only when its start-to-close timeout (the
workflow's DELIVERY_TIMEOUT, 30 s) runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from db.read_model import CaseEventRecord, NotificationRecord
from models.case import CaseRouting, CaseStatus, CaseView, case_workflow_id
from models.clocks import ClockName
from models.commands import AssignCase, ConfirmResolution, ResolveCase
from tests.builders import AGENT, CUSTOMER, open_case
from tests.conftest import Hooks, Inbox, free_port
from tests.workflows.worker_process import READY
from workflows.case import CaseStart, CaseWorkflow, execute_command

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_EMAIL = "ann@acme.example"
TIMEOUT = 90.0
T = TypeVar("T")


class HoldingInbox(Inbox):
    """An SMTP server that stalls on the first message to one address and never accepts
    it: the sender is killed while waiting for the answer, as a crash mid-send would."""

    def __init__(self, hold_for: str) -> None:
        super().__init__()
        self.hold_for = hold_for
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message: EmailMessage = message_from_bytes(envelope.content, _class=EmailMessage)
        if message["To"] == self.hold_for and not self.holding.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
            return "451 Requested action aborted: sender went away"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def holding_inbox() -> Iterator[tuple[HoldingInbox, int]]:
    inbox = HoldingInbox(hold_for=CUSTOMER_EMAIL)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    inbox.release.set()
    controller.stop()


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = TIMEOUT) -> T:
    """Poll `check` until it returns something other than None or False."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value is not None and value is not False:
                return value
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def worker_process(environment: dict[str, str], log: Path) -> AsyncIterator[Any]:
    """Start `worker_process.py` and wait until it says it is polling."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.workflows.worker_process",
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=output,
            stderr=output,
        )

    async def ready() -> bool:
        output = await asyncio.to_thread(log.read_text)
        if process.returncode is not None:
            raise AssertionError(f"worker exited with {process.returncode}:\n{output}")
        return READY in output

    try:
        await eventually(ready, within=30)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def read(engine: Engine, model: Any, number: int) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model).where(model.case_number == number)))


def fired(engine: Engine, number: int, kind: str, name: ClockName) -> list[CaseEventRecord]:
    events = read(engine, CaseEventRecord, number)
    return [e for e in events if e.kind == f"clock_{kind}" and e.data["clock"] == name]


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tierline>"


async def test_sigkilled_worker_loses_nothing_and_sends_nothing_twice(
    dev_client: Client,
    sqlite_engine: Engine,
    tmp_path: Path,
    task_queue: str,
    holding_inbox: tuple[HoldingInbox, int],
    webhook_receiver: tuple[Hooks, str],
) -> None:
    inbox, smtp_port = holding_inbox
    hooks, hook_url = webhook_receiver
    environment = {
        "TEMPORAL_ADDRESS": dev_client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": str(sqlite_engine.url),
        "SMTP_PORT": str(smtp_port),
    }
    log = tmp_path / "worker.log"
    routing = CaseRouting(
        customer_emails=(CUSTOMER_EMAIL,),
        customer_webhook=hook_url,
        agents_email="support@vendor.example",
        escalation_contacts={1: "lead@vendor.example", 2: "manager@vendor.example"},
    )
    number = 1
    command = open_case(
        number, "short-sla:instant", datetime.now(UTC), routing=routing, severity="critical"
    )
    handle: WorkflowHandle[CaseWorkflow, CaseView] = await dev_client.start_workflow(
        CaseWorkflow.run,
        CaseStart(open=command),
        id=case_workflow_id(number),
        task_queue=task_queue,
    )

    async def history_has(event_type: EventType.ValueType) -> bool:
        history = await handle.fetch_history()
        return any(event.event_type == event_type for event in history.events)

    try:
        async with worker_process(environment, log) as first:
            opened = await handle.execute_update(CaseWorkflow.opened)
            # The customer's "opened" e-mail is on the wire when the worker dies. The
            # opening's other two messages are sent and recorded first: a kill between
            # a server accepting a message and its record is the one window no sender
            # can close (the stable Message-ID and Idempotency-Key let receivers drop
            # the repeat), and not what this test is about.
            assert await asyncio.to_thread(inbox.holding.wait, TIMEOUT)
            held = f"case-{number}/1/email:{CUSTOMER_EMAIL}"

            async def others_sent() -> bool:
                opening = [
                    r
                    for r in read(sqlite_engine, NotificationRecord, number)
                    if r.event_seq == 1 and r.key != held
                ]
                return len(opening) == 2 and all(r.status == "sent" for r in opening)

            await eventually(others_sent)
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
        inbox.release.set()
        assert not fired(sqlite_engine, number, "breached", ClockName.first_response)

        # With no worker alive the server still fires the timer, and an agent's action
        # waits for a worker instead of being lost.
        await eventually(lambda: history_has(EventType.EVENT_TYPE_TIMER_FIRED))
        assigned = asyncio.create_task(
            execute_command(handle, AssignCase(actor=AGENT, assignee="agent-bob"))
        )

        async with worker_process(environment, log):
            view = await asyncio.wait_for(assigned, TIMEOUT)
            assert view.assignee == "agent-bob"
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            assert view.opened_at == opened.opened_at
            assert view.details == opened.details
            assert view.status is CaseStatus.tier2

            async def both_breached() -> bool:
                return all(
                    fired(sqlite_engine, number, "breached", name)
                    for name in (ClockName.first_response, ClockName.resolution)
                )

            await eventually(both_breached)
            view = await handle.query(CaseWorkflow.view)
            assert view.escalation_level == 2  # two missed targets
            await execute_command(handle, ResolveCase(actor=AGENT, summary="restarted the queue"))
            await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
            # The run ends only after every delivery, the retried one included, is done.
            final = await asyncio.wait_for(handle.result(), TIMEOUT)
        assert final.status is CaseStatus.closed
    finally:
        with contextlib.suppress(Exception):
            await handle.terminate("test over")

    for kind in ("warned", "breached"):
        for name in (ClockName.first_response, ClockName.resolution):
            assert len(fired(sqlite_engine, number, kind, name)) == 1, (kind, name)
    events = read(sqlite_engine, CaseEventRecord, number)
    assert sorted(e.seq for e in events) == list(range(1, final.seq + 1))
    assert [e.data["level"] for e in events if e.kind == "management_escalated"] == [1, 2]

    records = read(sqlite_engine, NotificationRecord, number)
    assert records and {r.status for r in records} == {"sent"}
    emails = {message_id(r.key) for r in records if r.channel == "email"}
    delivered = [m["Message-ID"] for m in inbox.messages]
    assert sorted(delivered) == sorted(emails)  # each e-mail exactly once
    webhooks = [headers["Idempotency-Key"] for headers, _ in hooks.calls]
    assert sorted(webhooks) == sorted(r.key for r in records if r.channel == "webhook")
    # The e-mail the killed worker was sending arrived once, from the retry.
    opened_mail = [m for m in inbox.to(CUSTOMER_EMAIL) if "] Received: " in m["Subject"]]
    assert len(opened_mail) == 1
    assert len(inbox.to("lead@vendor.example")) == len(inbox.to("manager@vendor.example")) == 1
