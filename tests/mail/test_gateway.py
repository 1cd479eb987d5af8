"""Cases arrive and continue by e-mail: real SMTP into the gateway, real cases on a dev
server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import smtplib

import pytest
from sqlmodel import Session, func, select

from api.cases import read_case
from db.read_model import AttachmentRecord, InboundMailRecord
from mail.intake import APPLIED, HELD, IGNORED
from models.case import CaseStatus, Channel
from tests.mail.conftest import MailDoor, mail


async def test_a_contacts_mail_opens_a_case_for_its_organisation(door: MailDoor) -> None:
    message = mail(
        "Exports time out",
        "Every export over 1,000 rows fails.\nSeverity: critical\n",
        message_id="<first@acme.example>",
    )
    row = await door.deliver(message, "ann@acme.example")
    assert (row.status, row.organisation) == (APPLIED, "acme")
    assert row.case_number is not None
    case = await read_case(door.engine, door.client, row.case_number)
    assert case.details.title == "Exports time out"
    assert "Every export over 1,000 rows fails." in case.details.details
    assert case.details.channel is Channel.email
    assert case.details.contact.email == "ann@acme.example"
    assert case.details.contact.name == "Ann Example"
    assert case.severity == "critical"
    assert case.opened_by.id == "mail:ann@acme.example"

    # The acknowledgement: tagged, threaded under the customer's mail, automatic.
    (ack,) = await door.mails_to("ann@acme.example")
    assert ack["Subject"] == f"[Case #{row.case_number}] Received: Exports time out"
    assert ack["In-Reply-To"] == "<first@acme.example>"
    assert ack["References"].split() == [
        "<first@acme.example>",
        f"<case-{row.case_number}@tierline>",
    ]
    assert ack["Auto-Submitted"] == "auto-generated"
    body = ack.get_payload(decode=True)
    assert isinstance(body, bytes) and b"We will respond by" in body

    # The customer answers the acknowledgement from a client that drops the tag: its
    # In-Reply-To alone (the acknowledgement's Message-ID) finds the case.
    answer = mail(
        "Re: Received: Exports time out",
        "It is every export, not only large ones.",
        In_Reply_To=ack["Message-ID"],
    )
    replied = await door.deliver(answer, "ann@acme.example")
    assert (replied.status, replied.case_number) == (APPLIED, row.case_number)


async def test_without_a_known_severity_the_plans_least_urgent_applies(door: MailDoor) -> None:
    row = await door.deliver(
        mail("Question", "How do I?\nSeverity: urgent!!\n"), "ann@acme.example"
    )
    assert row.case_number is not None
    case = await read_case(door.engine, door.client, row.case_number)
    assert case.severity == "normal"


async def test_a_reply_with_the_tag_continues_the_case(door: MailDoor) -> None:
    opened = await door.deliver(mail("Login loops", "SSO sends me back."), "ann@acme.example")
    number = opened.case_number
    assert number is not None
    reply = mail(
        f"Re: [Case #{number}] Login loops",
        "It happens on Firefox only.\n\nOn Monday, Support wrote:\n> What browser?\n",
        sender="Al <al@acme.example>",
    )
    row = await door.deliver(reply, "al@acme.example")
    assert (row.status, row.case_number) == (APPLIED, number)
    events = await door.events_when(number, "customer_replied")
    replied = [e for e in events if e.kind == "customer_replied"]
    assert len(replied) == 1
    assert replied[0].reason is not None and "Firefox only" in replied[0].reason
    assert "What browser" not in replied[0].reason  # the quoted history is stripped


async def test_a_reply_by_headers_alone_continues_the_case(door: MailDoor) -> None:
    """The client stripped the tag from the subject; References still name the thread."""
    opened = await door.deliver(
        mail("Printer jams", "Page 2 jams.", message_id="<jam-1@acme.example>"),
        "ann@acme.example",
    )
    number = opened.case_number
    assert number is not None
    reply = mail(
        "Re: Printer jams",
        "Now page 3 too.",
        In_Reply_To="<jam-1@acme.example>",
        References="<jam-1@acme.example>",
    )
    row = await door.deliver(reply, "ann@acme.example")
    assert (row.status, row.case_number) == (APPLIED, number)
    reply_to_thread = mail("Still jamming", "And page 4.", References=f"<case-{number}@tierline>")
    again = await door.deliver(reply_to_thread, "ann@acme.example")
    assert again.case_number == number


async def test_another_organisations_case_is_never_continued(door: MailDoor) -> None:
    theirs = await door.deliver(
        mail("Globex outage", "Down.", sender="gus@globex.example"), "gus@globex.example"
    )
    assert theirs.case_number is not None
    sneaky = mail(f"Re: [Case #{theirs.case_number}] Globex outage", "Let me in.")
    row = await door.deliver(sneaky, "ann@acme.example")
    assert row.status == APPLIED
    assert row.case_number != theirs.case_number
    case = await read_case(door.engine, door.client, theirs.case_number)
    assert case.details.organisation == "globex"
    assert not [e for e in door.events(theirs.case_number) if e.kind == "customer_replied"]


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto_Submitted": "auto-replied"}, "ann@acme.example"),
        ({"Precedence": "bulk"}, "ann@acme.example"),
        ({"X_Auto_Response_Suppress": "All"}, "ann@acme.example"),
    ],
)
async def test_automatic_mail_opens_nothing(
    door: MailDoor, headers: dict[str, str], sender: str
) -> None:
    row = await door.deliver(mail("Out of office", "I am away.", **headers), sender)
    assert row.status == IGNORED
    assert row.case_number is None
    assert row.reason is not None and row.reason.startswith("automatic mail")


async def test_a_bounce_opens_nothing(door: MailDoor) -> None:
    bounce = mail(
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.acme.example.",
        sender="MAILER-DAEMON@acme.example",
    )
    row = await door.deliver(bounce, "")
    assert row.status == IGNORED
    assert door.inbox.messages == []


async def test_the_same_mail_delivered_twice_is_applied_once(door: MailDoor) -> None:
    message = mail("Twice", "Sent twice.", message_id="<twice@acme.example>")
    first = await door.deliver(message, "ann@acme.example")
    answer = await asyncio.to_thread(door.send, message, "ann@acme.example")
    assert answer.endswith(f"already recorded as mail {first.id}")
    with Session(door.engine) as session:
        count = session.exec(select(func.count()).select_from(InboundMailRecord)).one()
    assert count == 1


async def test_a_strangers_mail_is_held_not_a_case(door: MailDoor) -> None:
    row = await door.deliver(
        mail("Hello", "Who are you?", sender="eve@evil.example"), "eve@evil.example"
    )
    assert row.status == HELD
    assert row.case_number is None
    assert row.reason == "eve@evil.example is no organisation's contact"


async def test_attachments_are_kept_with_the_case(door: MailDoor) -> None:
    message = mail("Screenshot", "See attached.")
    message.add_attachment(
        b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="log.pdf"
    )
    row = await door.deliver(message, "ann@acme.example")
    assert row.case_number is not None
    with Session(door.engine) as session:
        kept = session.exec(
            select(AttachmentRecord).where(AttachmentRecord.case_number == row.case_number)
        ).all()
    assert [(a.filename, a.content_type, a.size) for a in kept] == [
        ("log.pdf", "application/pdf", len(b"%PDF-1.4 test"))
    ]


async def test_a_mail_over_the_size_limit_is_refused_at_smtp(door: MailDoor) -> None:
    message = mail("Huge", "See the 20 MB dump.")
    message.add_attachment(
        b"\0" * (20 * 1024 * 1024), maintype="application", subtype="zip", filename="dump.zip"
    )
    with pytest.raises(smtplib.SMTPException) as refused:
        await asyncio.to_thread(door.send, message, "ann@acme.example")
    assert "552" in str(refused.value)
    with Session(door.engine) as session:
        assert session.exec(select(func.count()).select_from(InboundMailRecord)).one() == 0


async def test_a_resolved_case_is_reopened_by_a_reply(door: MailDoor) -> None:
    from api import actions
    from api.limits import KeyedLimiter
    from models.case import Actor, Role
    from models.registry import BY_ROUTE

    opened = await door.deliver(mail("Slow", "Slow pages."), "ann@acme.example")
    number = opened.case_number
    assert number is not None
    agent = Actor(id="bob", role=Role.agent)
    spec = BY_ROUTE["resolve"]
    await actions.perform(
        door.client,
        KeyedLimiter(),
        number,
        spec,
        actions.body_of(spec).model_validate({"summary": "Added an index."}),
        agent,
        None,
    )
    row = await door.deliver(mail(f"Re: [Case #{number}] Slow", "Still slow."), "ann@acme.example")
    assert (row.status, row.case_number) == (APPLIED, number)
    case = await read_case(door.engine, door.client, number)
    await door.events_when(number, "reopened")
    assert (await read_case(door.engine, door.client, number)).status is not CaseStatus.resolved
    assert case.number == number


async def test_attachments_are_named_in_the_timeline(door: MailDoor) -> None:
    opened = await door.deliver(mail("Report", "First."), "ann@acme.example")
    number = opened.case_number
    assert number is not None
    reply = mail(f"Re: [Case #{number}] Report", "Here is the log.")
    reply.add_attachment(b"line 1\n", maintype="text", subtype="plain", filename="app.log")
    await door.deliver(reply, "ann@acme.example")
    events = await door.events_when(number, "customer_replied")
    (replied,) = [e for e in events if e.kind == "customer_replied"]
    assert replied.reason is not None
    assert "Attached: app.log (7 bytes)" in replied.reason


async def test_a_flood_from_one_sender_is_ignored(door: MailDoor) -> None:
    door.settings.mail_hourly_limit = 2
    rows = [await door.deliver(mail(f"Spam {n}", "Again."), "ann@acme.example") for n in range(3)]
    assert [row.status for row in rows] == [APPLIED, APPLIED, IGNORED]
    assert rows[2].reason == "more than 2 mails within an hour from ann@acme.example"


async def test_a_reply_to_a_case_closed_for_good_opens_a_follow_up(door: MailDoor) -> None:
    from api import actions
    from api.limits import KeyedLimiter
    from models.case import Actor, Role
    from models.registry import BY_ROUTE

    opened = await door.deliver(mail("Proxy drops it", "Behind our proxy."), "ann@acme.example")
    number = opened.case_number
    assert number is not None
    spec = BY_ROUTE["close-out-of-scope"]
    body = {"exclusion": "third-party", "reason": "Their proxy."}
    await actions.perform(
        door.client,
        KeyedLimiter(),
        number,
        spec,
        actions.body_of(spec).model_validate(body),
        Actor(id="bob", role=Role.agent),
        None,
    )
    row = await door.deliver(
        mail(f"Re: [Case #{number}] Proxy drops it", "Still."), "ann@acme.example"
    )
    assert row.status == APPLIED
    assert row.case_number is not None and row.case_number != number
    assert row.reason == f"follows closed case {number}"
    follow_up = await read_case(door.engine, door.client, row.case_number)
    assert follow_up.details.title == f"Follow-up to case #{number}: Proxy drops it"


async def test_recipient_routes_pick_the_organisation_of_a_shared_contact(door: MailDoor) -> None:
    """Cal is a contact of both organisations: the address written to decides whose case
    it is; an address with no route leaves the mail to an agent."""
    from db.read_model import Organisation

    with Session(door.engine) as session:
        for organisation_id in ("acme", "globex"):
            organisation = session.get(Organisation, organisation_id)
            assert organisation is not None
            organisation.contact_emails = [*organisation.contact_emails, "cal@both.example"]
            session.add(organisation)
        session.commit()
    door.settings.mail_routes = {
        "premier@tierline.example": "us-software-002:enterprise",
        "fast@tierline.example": "short-sla",
    }
    premier = await door.deliver(
        mail("Down", "All down.", sender="cal@both.example"),
        "cal@both.example",
        to="premier@tierline.example",
    )
    assert (premier.status, premier.organisation) == (APPLIED, "globex")
    fast = await door.deliver(
        mail("Slow", "A bit slow.", sender="cal@both.example"),
        "cal@both.example",
        to="fast@tierline.example",
    )
    assert (fast.status, fast.organisation) == (APPLIED, "acme")
    unrouted = await door.deliver(
        mail("Hello", "Which one?", sender="cal@both.example"),
        "cal@both.example",
        to="support@tierline.example",
    )
    assert unrouted.status == HELD
    assert unrouted.reason == "cal@both.example is a contact of several organisations: acme, globex"


async def test_a_senders_mails_are_applied_in_the_order_they_came(door: MailDoor) -> None:
    """The gateway processes several mails at once, but never a reply before the mail it
    answers: both arrive before either is processed, and the reply still finds the case."""
    first = mail("Backups fail", "Since Sunday.", message_id="<backup-1@acme.example>")
    answer = mail(
        "Re: Backups fail",
        "And Monday.",
        message_id="<backup-2@acme.example>",
        In_Reply_To="<backup-1@acme.example>",
    )
    others = [mail(f"Other {n}", "Unrelated.", sender="Al <al@acme.example>") for n in range(3)]
    answers = [
        await asyncio.to_thread(door.send, message, "x@acme.example")
        for message in (first, answer, *others)
    ]
    ids = [int(text.rsplit(" ", 1)[-1]) for text in answers]
    rows = [await door.processed(mail_id) for mail_id in ids]
    assert [row.status for row in rows] == [APPLIED] * 5
    assert rows[1].case_number == rows[0].case_number
    assert len({row.case_number for row in rows}) == 4
