"""A gateway killed after it answered `250` loses nothing: the mail was recorded before the
answer, and the next gateway to start turns it into its case, once."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from api.limits import KeyedLimiter
from db.read_model import CaseRecord, InboundMailRecord, Organisation
from mail.gateway import serve
from mail.intake import APPLIED, RECEIVED, MailIntake
from policies.loading import load_catalogs
from settings import Settings
from tests.api.conftest import catalog_dir  # noqa: F401
from tests.conftest import free_port, running
from tests.mail.conftest import ACME, mail
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def send(port: int, raw: bytes) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("ann@acme.example")
        smtp.rcpt("support@tierline.example")
        code, answer = smtp.data(raw)
    assert code == 250, (code, answer)
    return answer.decode()


async def test_a_mail_answered_250_survives_a_gateway_kill(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    catalog_dir: Path,  # noqa: F811 (the API tests' fixture)
    tmp_path: Path,
) -> None:
    with Session(read_model) as session:
        session.add(Organisation(**ACME))
        session.commit()
    port = free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "CATALOG_DIR": str(catalog_dir),
        "TEMPORAL_ADDRESS": dev_client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": read_model.url.render_as_string(hide_password=False),
        "WEBHOOK_SECRET": "mail-crash-secret",
        "INBOUND_SMTP_PORT": str(port),
        "MAIL_METRICS_PORT": str(free_port()),
    }
    # No worker polls the task queue yet: the gateway accepts the mail, then waits on the
    # case it opens, and is killed there.
    gateway = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mail.gateway", cwd=ROOT, env=env
    )
    try:
        async with asyncio.timeout(60):
            while not listening(port):
                assert gateway.returncode is None, "the gateway exited while starting"
                await asyncio.sleep(0.1)
        raw = mail("Exports fail", "Since 9:00.", message_id="<crash@acme.example>").as_bytes()
        answer = await asyncio.to_thread(send, port, raw)
        assert "recorded as mail 1" in answer
    finally:
        os.kill(gateway.pid, signal.SIGKILL)
        await gateway.wait()

    with Session(read_model) as session:
        kept = session.get(InboundMailRecord, 1)
        assert kept is not None and kept.status == RECEIVED
        # As SMTP carried it: CRLF line ends.
        assert kept.raw.replace(b"\r\n", b"\n").rstrip() == raw.rstrip()

    settings = Settings(
        var_dir=tmp_path / "var",
        catalog_dir=catalog_dir,
        temporal_task_queue=task_queue,
        webhook_secret="mail-crash-secret",
        smtp_port=free_port(),  # nothing listens: acknowledgements retry, which is fine here
    )
    worker = build_worker(dev_client, read_model, task_queue, activity_executor, settings)
    async with running(worker):
        intake = MailIntake(
            read_model, dev_client, settings, load_catalogs(catalog_dir), KeyedLimiter()
        )
        server, processor = await serve(intake, "127.0.0.1", free_port())
        try:
            async with asyncio.timeout(60):
                while True:
                    with Session(read_model) as session:
                        row = session.get(InboundMailRecord, 1)
                        cases = session.exec(select(func.count()).select_from(CaseRecord)).one()
                    assert row is not None
                    if row.status != RECEIVED and cases:
                        break
                    await asyncio.sleep(0.05)
        finally:
            server.close()
            await server.wait_closed()
            processor.cancel()
    assert (row.status, row.case_number) == (APPLIED, 1)
    assert cases == 1
