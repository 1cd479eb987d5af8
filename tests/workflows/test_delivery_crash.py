"""A worker SIGKILLed after the relay accepted an e-mail but before the delivery was
recorded: Temporal retries the delivery on the next worker, which sends it once more with
the same Message-ID, the README's promise for that window. What arrives is counted.

The worker runs in a process of its own (`worker_process.py`) against the dev server, a
real SMTP server that kills the worker as it keeps the message, and SQLite or PostgreSQL.
It takes about 35 s: the server retries the killed delivery when its start-to-close
timeout (the workflow's DELIVERY_TIMEOUT, 30 s) runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from db.read_model import NotificationRecord
from models.case import CaseRouting, case_workflow_id
from tests.builders import open_case
from tests.conftest import Inbox, free_port
from tests.workflows.test_worker_crash import TIMEOUT, eventually, message_id, worker_process
from workflows.case import CaseStart, CaseWorkflow

CUSTOMER_EMAIL = "ann@acme.example"
KEY = f"case-1/1/email:{CUSTOMER_EMAIL}"


class KillingInbox(Inbox):
    """Keeps every message; the first time, kills `victim` before answering "250"."""

    def __init__(self) -> None:
        super().__init__()
        self.victim: int | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.victim = None
        return answer


@pytest.fixture
def killing_inbox() -> Iterator[tuple[KillingInbox, int]]:
    inbox = KillingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def record(engine: Engine) -> tuple[str, int] | None:
    with Session(engine) as session:
        row = session.get(NotificationRecord, KEY)
        return None if row is None else (row.status, row.attempts)


async def test_a_worker_killed_between_send_and_record_sends_one_more_copy(
    dev_client: Client,
    read_model: Engine,
    tmp_path: Path,
    task_queue: str,
    killing_inbox: tuple[KillingInbox, int],
) -> None:
    inbox, smtp_port = killing_inbox
    environment = {
        "TEMPORAL_ADDRESS": dev_client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": read_model.url.render_as_string(hide_password=False),
        "SMTP_PORT": str(smtp_port),
        "WEBHOOK_SECRET": "crash-test-secret",
    }
    log = tmp_path / "worker.log"
    # One recipient, so the only message in flight is the one the kill interrupts.
    routing = CaseRouting(customer_emails=(CUSTOMER_EMAIL,))
    command = open_case(1, "short-sla:fast", datetime.now(UTC), routing=routing)
    handle = None
    try:
        async with worker_process(environment, log) as first:
            inbox.victim = first.pid  # before the case starts, so before the message goes
            handle = await dev_client.start_workflow(
                CaseWorkflow.run,
                CaseStart(open=command),
                id=case_workflow_id(1),
                task_queue=task_queue,
            )
            assert await asyncio.wait_for(first.wait(), TIMEOUT) == -signal.SIGKILL
        assert len(inbox.messages) == 1
        # The claim was committed before the send; the mark never came.
        assert record(read_model) == ("sending", 1)

        async with worker_process(environment, log):

            async def sent() -> bool:
                return record(read_model) == ("sent", 2)

            await eventually(sent)
    finally:
        if handle is not None:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")

    copies = inbox.to(CUSTOMER_EMAIL)
    assert len(copies) == 2
    assert {m["Message-ID"] for m in copies} == {message_id(KEY)}
    assert "outcome of attempt 1 unknown; sending again with the same Message-ID" in (
        log.read_text()
    )
