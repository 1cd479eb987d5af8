"""The e-mail door end to end: real SMTP into the gateway, a real Temporal dev server and
worker, SQLite and PostgreSQL read models, and a real SMTP inbox for what Tierline sends."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from api.limits import KeyedLimiter
from db.read_model import CaseEventRecord, InboundMailRecord, Organisation
from mail.gateway import serve
from mail.intake import RECEIVED, MailIntake
from policies.loading import load_catalogs
from settings import Settings
from tests.api.conftest import Api, api, catalog_dir, worker_settings  # noqa: F401
from tests.conftest import Inbox, free_port, running
from worker import build_worker

ACME: dict[str, Any] = {
    "id": "acme",
    "name": "Acme Corp",
    "catalog": "short-sla",
    "plan": "fast",
    "contact_emails": ["ann@acme.example", "al@acme.example"],
}
GLOBEX: dict[str, Any] = {
    "id": "globex",
    "name": "Globex",
    "catalog": "us-software-002",
    "plan": "enterprise",
    "contact_emails": ["gus@globex.example"],
}


@dataclass
class MailDoor:
    port: int
    engine: Engine
    client: Client
    inbox: Inbox
    settings: Settings

    def send(
        self, message: EmailMessage | bytes, sender: str, to: str = "support@tierline.example"
    ) -> str:
        """Deliver over SMTP as an MTA would; returns the gateway's answer to DATA."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.ehlo()
            # As MTAs do: the size first, so a server over its limit refuses before DATA.
            options = [f"SIZE={len(raw)}"] if smtp.has_extn("size") else []
            code, answer = smtp.mail(sender, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            smtp.rcpt(to)
            code, answer = smtp.data(raw)
        assert code == 250, (code, answer)
        return answer.decode()

    async def deliver(
        self, message: EmailMessage | bytes, sender: str, **kwargs: Any
    ) -> InboundMailRecord:
        """Send, then wait until the gateway has processed the mail."""
        answer = await asyncio.to_thread(self.send, message, sender, **kwargs)
        mail_id = int(answer.rsplit(" ", 1)[-1])
        return await self.processed(mail_id)

    async def processed(self, mail_id: int, within: float = 60) -> InboundMailRecord:
        async with asyncio.timeout(within):
            while True:
                row = self.mail(mail_id)
                if row.status != RECEIVED:
                    return row
                await asyncio.sleep(0.05)

    def mail(self, mail_id: int) -> InboundMailRecord:
        with Session(self.engine) as session:
            row = session.get(InboundMailRecord, mail_id)
            assert row is not None
            session.expunge(row)
            return row

    def events(self, number: int) -> list[CaseEventRecord]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(CaseEventRecord)
                    .where(CaseEventRecord.case_number == number)
                    .order_by(CaseEventRecord.seq)  # type: ignore[arg-type]
                )
            )

    async def events_when(
        self, number: int, kind: str, within: float = 30
    ) -> list[CaseEventRecord]:
        async with asyncio.timeout(within):
            while True:
                found = self.events(number)
                if any(e.kind == kind for e in found):
                    return found
                await asyncio.sleep(0.05)

    async def mails_to(
        self, address: str, count: int = 1, within: float = 30
    ) -> list[EmailMessage]:
        async with asyncio.timeout(within):
            while len(self.inbox.to(address)) < count:  # noqa: ASYNC110 (another thread fills it)
                await asyncio.sleep(0.05)
        return self.inbox.to(address)


def mail(
    subject: str,
    body: str,
    sender: str = "Ann Example <ann@acme.example>",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@tierline.example"
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.fixture
async def door(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    catalog_dir: Path,  # noqa: F811 (the API tests' fixture)
    smtp_inbox: tuple[Inbox, int],
    tmp_path: Path,
) -> AsyncIterator[MailDoor]:
    inbox, smtp_port = smtp_inbox
    settings = Settings(
        var_dir=tmp_path / "var",
        catalog_dir=catalog_dir,
        temporal_task_queue=task_queue,
        smtp_port=smtp_port,
        webhook_secret="mail-test-secret",
        mail_max_bytes=5 * 1024 * 1024,
    )
    with Session(read_model) as session:
        session.add(Organisation(**ACME))
        session.add(Organisation(**GLOBEX))
        session.commit()
    worker = build_worker(dev_client, read_model, task_queue, activity_executor, settings)
    async with running(worker):
        intake = MailIntake(
            read_model, dev_client, settings, load_catalogs(catalog_dir), KeyedLimiter()
        )
        port = free_port()
        server, processor = await serve(intake, "127.0.0.1", port)
        try:
            yield MailDoor(port, read_model, dev_client, inbox, settings)
        finally:
            server.close()
            await server.wait_closed()
            processor.cancel()


@pytest.fixture
async def gateway(
    api: Api,  # noqa: F811 (the API tests' fixture)
    dev_client: Client,
    read_model: Engine,
    catalog_dir: Path,  # noqa: F811 (the API tests' fixture)
    task_queue: str,
    tmp_path: Path,
) -> AsyncIterator[MailDoor]:
    """A gateway beside the API test fixture's stack, on the same database and Temporal."""
    settings = Settings(
        var_dir=tmp_path / "var",  # the API fixture's: attachments land where it reads them
        catalog_dir=catalog_dir,
        temporal_task_queue=task_queue,
        webhook_secret="mail-api-secret",
    )
    intake = MailIntake(
        read_model, dev_client, settings, load_catalogs(catalog_dir), KeyedLimiter()
    )
    port = free_port()
    server, processor = await serve(intake, "127.0.0.1", port)
    try:
        yield MailDoor(port, read_model, dev_client, Inbox(), settings)
    finally:
        server.close()
        await server.wait_closed()
        processor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await processor
