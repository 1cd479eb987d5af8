"""The notifier against real local endpoints and real databases: an unreachable relay
fails each attempt in one line, records why, and stays retryable; a delivered message is
never sent again; nothing in a message's content can stop its record from being written;
and a record that cannot be written never makes the same message go out again."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.notify import Notifier, sign
from db.read_model import NotificationRecord
from models.notifications import Notification
from tests.activities.refusals import refusing
from tests.conftest import Hooks, Inbox, free_port

NUL_TITLE = "Export\x00fails"


def notification(key: str, **overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "key": key,
        "channel": "email",
        "to": "ann@acme.example",
        "case_number": 1,
        "event_seq": 1,
        "event_kind": "opened",
        "subject": "Opened",
        "body": "Case 1 opened.",
    }
    values.update(overrides)
    return Notification.model_validate(values)


def notifier(engine: Engine, port: int) -> Notifier:
    return Notifier(
        engine, smtp_host="127.0.0.1", smtp_port=port, sender="t@localhost", webhook_secret="s"
    )


def message_id(key: str) -> str:
    """What the README promises every copy of an e-mail carries, worked out here anew."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tierline>"


def records(engine: Engine) -> list[NotificationRecord]:
    with Session(engine) as session:
        return list(session.exec(select(NotificationRecord)))


def test_an_unreachable_relay_fails_in_one_line_and_stays_retryable(
    read_model: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = free_port()  # nothing listens there
    with caplog.at_level(logging.WARNING), pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(notifier(read_model, closed_port).deliver, notification("k1"))
    assert raised.value.category is ApplicationErrorCategory.BENIGN
    assert not raised.value.non_retryable
    assert raised.value.type == "ConnectionRefusedError"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "email to ann@acme.example not delivered (attempt 1)" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    (record,) = records(read_model)
    assert (record.status, record.attempts) == ("pending", 1)
    assert record.last_error is not None and "ConnectionRefusedError" in record.last_error


def test_a_failing_webhooks_path_stays_out_of_logs_errors_and_the_table(
    read_model: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook URL's path is often its credential: only the origin is named."""
    url = f"http://127.0.0.1:{free_port()}/hooks/T0-secret-in-path?sig=abc"
    hook = notification(f"case-1/1/webhook:{url}", channel="webhook", to=url)
    with caplog.at_level(logging.WARNING), pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(notifier(read_model, free_port()).deliver, hook)
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    origin = url.split("/hooks")[0]
    assert f"webhook to {origin} not delivered (attempt 1)" in warning.getMessage()
    (record,) = records(read_model)
    for text in (warning.getMessage(), str(raised.value), record.last_error or ""):
        assert "secret-in-path" not in text and "sig=abc" not in text


def test_a_delivered_message_is_not_sent_again(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    deliver = notifier(read_model, port).deliver
    ActivityEnvironment().run(deliver, notification("k2"))
    ActivityEnvironment().run(deliver, notification("k2"))
    (sent,) = inbox.to("ann@acme.example")
    assert sent["Message-ID"] == message_id("k2")
    (record,) = records(read_model)
    assert (record.status, record.attempts) == ("sent", 1)


def test_a_customers_mail_links_to_the_case_on_the_portal_and_staff_mail_does_not(
    read_model: Engine, smtp_inbox: tuple[Inbox, int], webhook_receiver: tuple[Hooks, str]
) -> None:
    inbox, port = smtp_inbox
    hooks, url = webhook_receiver
    deliver = Notifier(
        read_model,
        smtp_host="127.0.0.1",
        smtp_port=port,
        sender="t@localhost",
        webhook_secret="s",
        portal_url="https://support.example.com/",
    ).deliver
    for key, to, audience in (
        ("c", "ann@acme.example", "customer"),
        ("t", "team@vendor.example", "team"),
    ):
        ActivityEnvironment().run(
            deliver, notification(key, to=to, case_number=7, audience=audience)
        )
    ActivityEnvironment().run(
        deliver,
        notification(f"case-7/1/webhook:{url}", channel="webhook", to=url, audience="customer"),
    )
    (customer,) = inbox.to("ann@acme.example")
    link = b"The case on the support portal: https://support.example.com/portal/cases/7"
    body = customer.get_payload(decode=True)
    assert isinstance(body, bytes) and link in body
    (team,) = inbox.to("team@vendor.example")
    body = team.get_payload(decode=True)
    assert isinstance(body, bytes) and b"portal" not in body
    # A webhook's payload keeps its fields: no audience, the body as the workflow wrote it.
    ((_, payload),) = hooks.calls
    sent = json.loads(payload)
    assert "audience" not in sent and sent["body"] == "Case 1 opened."


def test_content_postgresql_refuses_is_recorded_and_sent_once(
    read_model: Engine, smtp_inbox: tuple[Inbox, int], webhook_receiver: tuple[Hooks, str]
) -> None:
    inbox, port = smtp_inbox
    hooks, url = webhook_receiver
    deliver = notifier(read_model, port).deliver
    subject = f"Opened: {NUL_TITLE}"
    body = f"Case 1 (Acme): {NUL_TITLE}"
    mail = notification("case-1/1/email:ann@acme.example", subject=subject, body=body)
    hook = notification(f"case-1/1/webhook:{url}", channel="webhook", to=url, subject=subject)
    for _ in range(3):  # the first delivery, then two retries that must find it sent
        ActivityEnvironment().run(deliver, mail)
        ActivityEnvironment().run(deliver, hook)

    (sent,) = inbox.messages
    sent_subject = "[Case #1] Opened: Export\ufffdfails"
    assert str(make_header(decode_header(sent["Subject"]))) == sent_subject
    content = sent.get_payload(decode=True)
    assert isinstance(content, bytes) and "Export\ufffdfails" in content.decode()
    ((_, payload),) = hooks.calls
    assert b"Export\\u0000fails" in payload  # JSON carries the content as it is
    stored = {r.channel: r for r in records(read_model)}
    assert {r.status for r in stored.values()} == {"sent"}
    assert stored["email"].subject == sent_subject


def test_an_overlong_key_is_recorded_and_sent_once(
    read_model: Engine, webhook_receiver: tuple[Hooks, str]
) -> None:
    hooks, url = webhook_receiver
    url = f"{url}?token={'x' * 500}"  # a key longer than the column's 400 characters
    key = f"case-1/1/webhook:{url}"
    deliver = notifier(read_model, free_port()).deliver
    ActivityEnvironment().run(deliver, notification(key, channel="webhook", to=url))
    ActivityEnvironment().run(deliver, notification(key, channel="webhook", to=url))

    ((headers, body),) = hooks.calls
    assert headers["Idempotency-Key"] == key
    assert headers["X-Tierline-Signature"] == sign("s", body)
    (record,) = records(read_model)
    assert record.key == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert (record.status, record.recipient) == ("sent", url)


def test_a_claim_that_cannot_be_written_sends_nothing(
    read_model: Engine, smtp_inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = smtp_inbox
    with (
        refusing(read_model, "notifications", "INSERT"),
        caplog.at_level(logging.WARNING),
        pytest.raises(ApplicationError) as raised,
    ):
        ActivityEnvironment().run(notifier(read_model, port).deliver, notification("k3"))
    assert raised.value.category is ApplicationErrorCategory.BENIGN
    assert not raised.value.non_retryable
    (line,) = [r for r in caplog.records if r.name == "temporalio.activity"]
    assert line.getMessage().startswith("email to ann@acme.example not claimed, nothing sent: ")
    assert "refused by the test" in line.getMessage()
    assert line.exc_info is None
    assert inbox.messages == []
    assert records(read_model) == []


def test_a_sent_message_whose_record_fails_is_not_sent_again(
    read_model: Engine, smtp_inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = smtp_inbox
    sent = "NEW.status = 'sent'"
    with (
        refusing(read_model, "notifications", "INSERT", when=sent),
        refusing(read_model, "notifications", "UPDATE", when=sent),
        caplog.at_level(logging.WARNING),
    ):
        # No exception: the message went, so the activity is done and Temporal retries
        # nothing. Its completion in the workflow's history is the record that holds.
        ActivityEnvironment().run(notifier(read_model, port).deliver, notification("k4"))
    assert len(inbox.messages) == 1
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR
    assert "email to ann@acme.example sent but not recorded as sent" in line.getMessage()
    assert "refused by the test" in line.getMessage()
    assert line.exc_info is None
    (record,) = records(read_model)
    assert (record.status, record.attempts) == ("sending", 1)


class QuitRefusingInbox(Inbox):
    """A relay that accepts the message and then answers QUIT with an error."""

    async def handle_QUIT(self, server: object, session: object, envelope: object) -> str:
        return "421 closing with an error"


@pytest.fixture
def quit_refusing_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = QuitRefusingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def test_an_error_after_the_relay_accepted_is_no_failure(
    read_model: Engine, quit_refusing_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = quit_refusing_inbox
    deliver = notifier(read_model, port).deliver
    ActivityEnvironment().run(deliver, notification("k5"))
    ActivityEnvironment().run(deliver, notification("k5"))
    assert len(inbox.messages) == 1
    (record,) = records(read_model)
    assert record.status == "sent"
