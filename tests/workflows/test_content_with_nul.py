"""A case whose title holds NUL, started straight on Temporal (the API refuses such
input): on SQLite and PostgreSQL it is projected, its opening answers, and each of its
'opened' e-mails is recorded and arrives once. On PostgreSQL the projection and the
records used to fail ("text fields cannot contain NUL"): the opening never answered, and
every retry of a delivery sent its e-mail again."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from db.read_model import CaseRecord, NotificationRecord, ProjectionFailure
from models.case import CaseRouting, case_workflow_id
from settings import Settings
from tests.builders import open_case
from tests.conftest import Inbox, running
from worker import build_worker
from workflows.case import CaseStart, CaseWorkflow

TIMEOUT = 60.0
RECIPIENTS = ("ann@acme.example", "support@vendor.example")


def stored(engine: Engine) -> tuple[CaseRecord | None, list[NotificationRecord], int]:
    with Session(engine) as session:
        return (
            session.get(CaseRecord, 1),
            list(session.exec(select(NotificationRecord))),
            len(session.exec(select(ProjectionFailure)).all()),
        )


async def test_a_title_with_nul_is_projected_and_mailed_once(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    smtp_inbox: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_inbox
    routing = CaseRouting(customer_emails=(RECIPIENTS[0],), agents_email=RECIPIENTS[1])
    command = open_case(
        1, "short-sla:fast", datetime.now(UTC), routing=routing, title="Export\x00fails"
    )
    settings = Settings(smtp_port=port)
    worker = build_worker(dev_client, read_model, task_queue, activity_executor, settings)
    async with running(worker):
        handle = await dev_client.start_workflow(
            CaseWorkflow.run,
            CaseStart(open=command),
            id=case_workflow_id(1),
            task_queue=task_queue,
        )
        try:
            opened = await asyncio.wait_for(handle.execute_update(CaseWorkflow.opened), TIMEOUT)
            assert opened.details.title == "Export\x00fails"  # Temporal keeps it as it came

            async def delivered() -> list[NotificationRecord]:
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        _, records, _ = await asyncio.to_thread(stored, read_model)
                        if len(records) == 2 and {r.status for r in records} == {"sent"}:
                            return records
                        await asyncio.sleep(0.1)

            records = await delivered()
        finally:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")

    row, _, failing = stored(read_model)
    assert row is not None and row.title == "Export\ufffdfails"
    assert failing == 0
    assert {r.recipient for r in records} == set(RECIPIENTS)
    assert all("Export\ufffdfails" in r.subject and r.attempts == 1 for r in records)
    assert sorted(m["To"] for m in inbox.messages) == sorted(RECIPIENTS)
