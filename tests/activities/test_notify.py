"""The notifier against real local endpoints: an unreachable relay fails each attempt in
one line, records why, and stays retryable; a delivered message is never sent again."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.notify import Notifier
from models.notifications import Notification
from models.read_model import NotificationRecord
from tests.conftest import Inbox, free_port


def notification(key: str) -> Notification:
    return Notification(
        key=key,
        channel="email",
        to="ann@acme.example",
        case_number=1,
        event_seq=1,
        event_kind="opened",
        subject="[case 1] opened",
        body="Case 1 opened.",
    )


def notifier(engine: Engine, port: int) -> Notifier:
    return Notifier(
        engine, smtp_host="127.0.0.1", smtp_port=port, sender="t@localhost", webhook_secret="s"
    )


def test_an_unreachable_relay_fails_in_one_line_and_stays_retryable(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = free_port()  # nothing listens there
    with caplog.at_level(logging.WARNING), pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(notifier(sqlite_engine, closed_port).deliver, notification("k1"))
    assert raised.value.category is ApplicationErrorCategory.BENIGN
    assert not raised.value.non_retryable
    assert raised.value.type == "ConnectionRefusedError"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "email to ann@acme.example not delivered (attempt 1)" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    with Session(sqlite_engine) as session:
        record = session.get(NotificationRecord, "k1")
        assert record is not None
        assert (record.status, record.attempts) == ("pending", 1)
        assert record.last_error is not None and "ConnectionRefusedError" in record.last_error


def test_a_delivered_message_is_not_sent_again(
    sqlite_engine: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    deliver = notifier(sqlite_engine, port).deliver
    ActivityEnvironment().run(deliver, notification("k2"))
    ActivityEnvironment().run(deliver, notification("k2"))
    assert len(inbox.to("ann@acme.example")) == 1
