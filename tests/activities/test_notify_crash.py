"""What arrives when the process delivering a notification is SIGKILLed mid-delivery.

The delivery runs in a process of its own (`deliver_process.py`) against a real SMTP
server (aiosmtpd) or a real HTTP receiver, and SQLite or PostgreSQL. The receiver keeps
the message and then kills the sender before answering: the message is out, the sender
never learns so, as when a worker dies between the relay's "250 OK" and the record of
the delivery. The retry Temporal would run next is the activity run again with the same
input. The README's promise is what these tests count: one such crash, at most one more
copy, with the same Message-ID (Idempotency-Key); a crash once the record is written,
no second copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.notify import Notifier
from db.read_model import NotificationRecord
from models.notifications import Notification
from tests.activities.deliver_process import DELIVERED
from tests.conftest import Inbox, free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0
ADDRESS = "ann@acme.example"


class Receiver:
    """What arrived, as (identity, content) pairs: the Message-ID or Idempotency-Key, and
    the message. `victim` is a process to SIGKILL once a message is kept."""

    def __init__(self) -> None:
        self.arrived: list[tuple[str, bytes]] = []
        self.victim: int | None = None

    def keep(self, identity: str, content: bytes) -> None:
        self.arrived.append((identity, content))
        if self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.victim = None


class KillingInbox(Inbox):
    def __init__(self, receiver: Receiver) -> None:
        super().__init__()
        self.receiver = receiver

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        self.receiver.keep(self.messages[-1]["Message-ID"], envelope.content)
        return "250 OK"


@pytest.fixture(params=["email", "webhook"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[Receiver, Notification, int]]:
    """A receiver that kills its victim on receipt, the notification addressed to it, and
    the SMTP port to configure."""
    receiver = Receiver()
    values: dict[str, Any] = {
        "case_number": 1,
        "event_seq": 1,
        "event_kind": "opened",
        "subject": "Opened: Exports fail",
        "body": "Case 1 (Acme Corp): Exports fail",
    }
    if request.param == "email":
        controller = Controller(KillingInbox(receiver), hostname="127.0.0.1", port=free_port())
        controller.start()
        key = f"case-1/1/email:{ADDRESS}"
        yield (
            receiver,
            Notification(key=key, channel="email", to=ADDRESS, **values),
            controller.port,
        )
        controller.stop()
        return

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.keep(self.headers["Idempotency-Key"], body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    key = f"case-1/1/webhook:{url}"
    yield receiver, Notification(key=key, channel="webhook", to=url, **values), free_port()
    server.shutdown()
    server.server_close()


def deliver_in_child(engine: Engine, smtp_port: int) -> subprocess.Popen[bytes]:
    """A process that delivers the notification it is handed on stdin."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.activities.deliver_process",
            engine.url.render_as_string(hide_password=False),
            str(smtp_port),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def hand(process: subprocess.Popen[bytes], notification: Notification) -> None:
    assert process.stdin is not None
    process.stdin.write(notification.model_dump_json().encode() + b"\n")
    process.stdin.flush()


def retry(engine: Engine, smtp_port: int, notification: Notification) -> None:
    """The next attempt, as Temporal runs it after the killed one timed out."""
    notifier = Notifier(
        engine, smtp_host="127.0.0.1", smtp_port=smtp_port, sender="t@localhost", webhook_secret="s"
    )
    ActivityEnvironment().run(notifier.deliver, notification)


def record(engine: Engine, key: str) -> tuple[str, int]:
    with Session(engine) as session:
        row = session.get(NotificationRecord, key)
        assert row is not None
        return row.status, row.attempts


def identity(notification: Notification) -> str:
    """The Message-ID or Idempotency-Key every copy must carry, worked out here anew."""
    if notification.channel == "webhook":
        return notification.key
    return f"<{hashlib.sha256(notification.key.encode()).hexdigest()[:32]}@tierline>"


def test_a_kill_between_send_and_record_sends_one_more_copy_with_the_same_id(
    read_model: Engine,
    endpoint: tuple[Receiver, Notification, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, notification, smtp_port = endpoint
    process = deliver_in_child(read_model, smtp_port)
    receiver.victim = process.pid
    hand(process, notification)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert len(receiver.arrived) == 1
    # Claimed before the send, never marked: the outcome of that attempt is unknown.
    assert record(read_model, notification.key) == ("sending", 1)

    with caplog.at_level(logging.WARNING):
        retry(read_model, smtp_port, notification)
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "outcome of attempt 1 unknown; sending again" in line.getMessage()
    retry(read_model, smtp_port, notification)  # a later retry finds it sent

    # What the README promises for one crash in this window: two copies, one identity.
    assert len(receiver.arrived) == 2
    assert {i for i, _ in receiver.arrived} == {identity(notification)}
    if notification.channel == "webhook":
        assert receiver.arrived[0][1] == receiver.arrived[1][1]  # the same signed body
    assert record(read_model, notification.key) == ("sent", 2)


def test_a_kill_after_the_record_sends_nothing_more(
    read_model: Engine, endpoint: tuple[Receiver, Notification, int]
) -> None:
    receiver, notification, smtp_port = endpoint
    process = deliver_in_child(read_model, smtp_port)
    hand(process, notification)
    assert process.stdout is not None
    # The activity returned (its record written); the process dies before Temporal hears.
    assert process.stdout.readline().decode().strip() == DELIVERED
    process.kill()
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL

    retry(read_model, smtp_port, notification)

    assert [i for i, _ in receiver.arrived] == [identity(notification)]
    assert record(read_model, notification.key) == ("sent", 1)
