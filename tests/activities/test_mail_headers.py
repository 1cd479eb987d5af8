"""What every e-mail Tierline sends carries, received over real SMTP: the case tag before
its subject, its stable Message-ID, the case's thread in In-Reply-To and References, and
the marks that keep auto-responders quiet; the webhook's body keeps its shape."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.notify import Notifier
from db.read_model import NotificationRecord
from mail.tag import find_case_number
from models.notifications import Notification
from tests.activities.test_notify import message_id, notification
from tests.conftest import Hooks, Inbox

SOURCE = "CAFk9=x2.Ab@mail.acme.example"


def notifier(port: int, **options: Any) -> Notifier:
    return Notifier(
        engine=options.pop("engine"),
        smtp_host="127.0.0.1",
        smtp_port=port,
        sender="support@vendor.example",
        webhook_secret="s",
        **options,
    )


def deliver(engine: Engine, port: int, sent: Notification, **options: Any) -> None:
    ActivityEnvironment().run(notifier(port, engine=engine, **options).deliver, sent)


def one(inbox: Inbox) -> EmailMessage:
    (message,) = inbox.messages
    return message


def case_mail(key: str, **overrides: Any) -> Notification:
    values: dict[str, Any] = {"case_number": 12, "subject": "Received: Exports fail"}
    return notification(key, **{**values, **overrides})


def test_a_case_mail_carries_its_tag_identity_thread_and_automatic_marks(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    key = "case-12/1/email:ann@acme.example"
    acknowledgement = case_mail(key, in_reply_to=SOURCE, references=(SOURCE,))
    deliver(read_model, port, acknowledgement)

    sent = one(inbox)
    assert sent["Subject"] == "[Case #12] Received: Exports fail"
    assert sent["Message-ID"] == message_id(key)
    assert sent["In-Reply-To"] == f"<{SOURCE}>"
    assert sent["References"] == f"<{SOURCE}> <case-12@tierline>"
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert parsedate_to_datetime(sent["Date"]).tzinfo is not None
    with Session(read_model) as session:
        (record,) = session.exec(select(NotificationRecord)).all()
    assert record.subject == "[Case #12] Received: Exports fail"
    assert record.message_id == message_id(key)[1:-1]  # as a reply's In-Reply-To names it


def test_a_later_mail_answers_the_case_thread(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    deliver(read_model, port, case_mail("k-opened-by-mail", references=(SOURCE,)))
    deliver(read_model, port, case_mail("k-opened-on-the-portal", case_number=13))

    by_mail, on_portal = inbox.messages
    assert by_mail["In-Reply-To"] == "<case-12@tierline>"
    assert by_mail["References"] == f"<{SOURCE}> <case-12@tierline>"
    assert on_portal["In-Reply-To"] == "<case-13@tierline>"
    assert on_portal["References"] == "<case-13@tierline>"


def test_an_id_no_header_can_carry_is_left_out(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    odd = ("two words@x", "<bracketed@x>", "naïve@x", "line\r\nBcc: x@y")
    deliver(read_model, port, case_mail("k6", in_reply_to=odd[3], references=odd))
    sent = one(inbox)
    assert sent["In-Reply-To"] == "<case-12@tierline>"
    assert sent["References"] == "<case-12@tierline>"
    assert sent["Bcc"] is None


def test_a_notice_is_automatic_but_belongs_to_no_case(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    notice = notification(
        "notice-3/acme/email:ann@acme.example",
        case_number=None,
        notice_id=3,
        subject="[scheduled outage] Planned maintenance",
    )
    deliver(read_model, port, notice)
    sent = one(inbox)
    assert sent["Subject"] == "[scheduled outage] Planned maintenance"
    assert sent["In-Reply-To"] is None and sent["References"] is None
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["X-Auto-Response-Suppress"] == "All"


def test_the_tag_format_is_handed_in_and_reads_back(
    read_model: Engine, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    fmt = "Ticket {number}:"
    deliver(read_model, port, case_mail("k7"), case_tag_format=fmt)
    subject = one(inbox)["Subject"]
    assert subject == "Ticket 12: Received: Exports fail"
    assert find_case_number(f"Re: {subject}", fmt) == 12


def test_a_bad_tag_format_is_refused_before_anything_is_sent(read_model: Engine) -> None:
    with pytest.raises(ValueError, match="case tag format"):
        notifier(25, engine=read_model, case_tag_format="[Case]")


def test_the_webhook_body_keeps_its_fields(
    read_model: Engine, webhook_receiver: tuple[Hooks, str]
) -> None:
    hooks, url = webhook_receiver
    hook = case_mail(f"case-12/1/webhook:{url}", channel="webhook", to=url, references=(SOURCE,))
    deliver(read_model, 25, hook)
    ((headers, body),) = hooks.calls
    payload = json.loads(body)
    assert set(payload) == {
        "key",
        "case_number",
        "notice_id",
        "organisation",
        "event_seq",
        "event_kind",
        "subject",
        "body",
    }
    assert payload["subject"] == "[Case #12] Received: Exports fail"
    assert headers["Idempotency-Key"] == hook.key
    with Session(read_model) as session:
        (record,) = session.exec(select(NotificationRecord)).all()
    assert record.message_id is None
