"""The acknowledgement of a new case: its customer's contacts read the case number and
what the plan promises for the first response, in the local time of the plan's calendar.

First the decision itself (`notifications_for`) at pinned instants; then a case opened by
an e-mail on the time-skipping server with a real worker delivering over real SMTP, its
opening instant taken from the calendar (never today's date)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notify import message_id
from models import transitions
from models.case import CaseEvent, CaseRouting
from models.clocks import ClockName
from models.commands import RespondPublicly
from models.notifications import Notification, notifications_for
from policies.snapshot import Target
from settings import Settings
from tests.builders import AGENT, open_case
from tests.conftest import Inbox
from tests.workflows.case_harness import clock, skip_to, start, terminate_started
from tests.workflows.office_hours import BERLIN, EU_OFFICE, friday_before_open_monday
from worker import build_worker
from workflows.case import CaseWorkflow, execute_command

ANN, IT = "ann@acme.example", "it@acme.example"
HOOK = "https://hooks.acme.example/tierline"
TEAM = "support@vendor.example"
ROUTING = CaseRouting(customer_emails=(ANN, IT), customer_webhook=HOOK, agents_email=TEAM)
SOURCE = "CAFk9=x2.Ab@mail.acme.example"
TITLE = "Exports fail with a timeout"
# A Friday afternoon before a working Monday, Germany's holidays and daylight saving aside.
FRIDAY = datetime(2026, 12, 4, 16, tzinfo=BERLIN)


def opened(
    plan: str, at: datetime, routing: CaseRouting = ROUTING, **details: object
) -> dict[str, Notification]:
    """What case 12's opening sends, by recipient."""
    command = open_case(12, plan, at, routing=routing, **details)
    now = at.astimezone(UTC)
    state, facts = transitions.open_case(command, now)
    assert facts[0].kind == "opened"
    event = CaseEvent(seq=1, at=now, **facts[0].model_dump())
    return {n.to: n for n in notifications_for(state, event)}


def test_the_customer_reads_the_number_and_the_promise_in_the_plans_local_time() -> None:
    sent = opened("eu-software-001:gold", FRIDAY, severity="sev1")

    assert set(sent) == {ANN, IT, HOOK, TEAM}
    for to in (ANN, IT, HOOK):
        acknowledgement = sent[to]
        assert acknowledgement.subject == f"Received: {TITLE}"
        body = acknowledgement.body
        assert "opened case 12 for it" in body
        # Friday 16:00 + 8 business hours on Mon-Fri 09:00-17:00 is Monday 16:00.
        assert "We will respond by Monday 7 December 2026, 16:00 (Europe/Berlin)." in body
        assert "Your Gold plan promises a first response within 8 business hours." in body
        assert "Severity 1" in body and "Ann Example" in body
    # The team's inbox hears what happened, not the customer's letter.
    assert sent[TEAM].subject == f"Opened: {TITLE}"
    assert "We will respond" not in sent[TEAM].body


@pytest.mark.parametrize(
    ("plan", "at", "severity", "promise"),
    [
        # Summer time: the same promise, read in CEST.
        (
            "eu-software-001:gold",
            datetime(2026, 7, 3, 16, tzinfo=BERLIN),
            "sev1",
            "We will respond by Monday 6 July 2026, 16:00 (Europe/Berlin).",
        ),
        # A fixed offset is named as one: 1 hour Friday evening, 1 hour Monday morning.
        (
            "officespace:support",
            datetime(2026, 12, 4, 21, tzinfo=ZoneInfo("America/Chicago")),
            "critical",
            "We will respond by Monday 7 December 2026, 06:00 (UTC-06:00).",
        ),
        # Due at 16:00:01 (whole seconds, counted from 16:00:00.3): promised by 16:00.
        (
            "eu-software-001:gold",
            FRIDAY + timedelta(milliseconds=300),
            "sev1",
            "We will respond by Monday 7 December 2026, 16:00 (Europe/Berlin).",
        ),
        # A target counted in seconds is promised to the second.
        (
            "short-sla:instant",
            datetime(2026, 12, 4, 15, 0, 0, 900_000, tzinfo=UTC),
            "critical",
            "We will respond by Friday 4 December 2026, 15:00:06 (UTC).",
        ),
        (
            "eu-software-001:professional",
            FRIDAY,
            "sev1",
            "There is no first-response target on this plan (Professional).",
        ),
    ],
)
def test_the_promise_as_the_plan_makes_it(
    plan: str, at: datetime, severity: str, promise: str
) -> None:
    sent = opened(plan, at, severity=severity)
    assert promise in sent[ANN].body


def test_a_best_effort_first_response_is_promised_as_such() -> None:
    command = open_case(12, "eu-software-001:gold", FRIDAY, routing=ROUTING, severity="sev1")
    plan = command.plan
    best_effort = Target(kind="best_effort", text="best effort")
    targets = tuple(row.model_copy(update={"first_response": best_effort}) for row in plan.targets)
    command = command.model_copy(update={"plan": plan.model_copy(update={"targets": targets})})
    state, facts = transitions.open_case(command, FRIDAY.astimezone(UTC))
    event = CaseEvent(seq=1, at=FRIDAY, **facts[0].model_dump())
    (acknowledgement, *_) = notifications_for(state, event)
    assert "first response on a best-effort basis, at no set time" in acknowledgement.body
    assert "We will respond by" not in acknowledgement.body


def test_a_case_opened_by_mail_answers_that_mail_and_others_only_refer_to_it() -> None:
    by_mail = opened("eu-software-001:gold", FRIDAY, severity="sev1", source_message_id=SOURCE)
    for sent in by_mail.values():
        assert (sent.in_reply_to, sent.references) == (SOURCE, (SOURCE,))
    on_the_portal = opened("eu-software-001:gold", FRIDAY, severity="sev1")
    for sent in on_the_portal.values():
        assert (sent.in_reply_to, sent.references) == (None, ())


def test_a_message_id_the_headers_cannot_carry_is_refused_on_the_case() -> None:
    for bad in ("<x@y>", "two words@y", "naïve@y", "x" * 256):
        with pytest.raises(ValueError, match="source_message_id"):
            open_case(12, "eu-software-001:gold", FRIDAY, source_message_id=bad)


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    smtp_inbox: tuple[Inbox, int],
) -> AsyncIterator[Client]:
    settings = Settings(smtp_port=smtp_inbox[1], webhook_secret="s")
    client = time_skipping_env.client
    async with build_worker(client, sqlite_engine, task_queue, activity_executor, settings):
        yield client
        await terminate_started()


async def mails_to(inbox: Inbox, address: str, count: int) -> list[EmailMessage]:
    async with asyncio.timeout(20):
        while True:  # the SMTP server's thread fills the inbox
            if len(found := inbox.to(address)) >= count:
                return found
            await asyncio.sleep(0.05)


def berlin_text(instant: datetime) -> str:
    """Worked out here anew: English names, to the minute."""
    local = instant.astimezone(BERLIN)
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    date = f"{days[local.weekday()]} {local.day} {local:%B} {local.year}"
    return f"{date}, {local:%H:%M} (Europe/Berlin)"


async def test_a_case_opened_by_mail_is_acknowledged_and_its_mails_thread_under_it(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    smtp_inbox: tuple[Inbox, int],
) -> None:
    inbox, _ = smtp_inbox
    day = friday_before_open_monday(EU_OFFICE, await time_skipping_env.get_current_time())
    friday = EU_OFFICE.at(day, 16)
    await skip_to(time_skipping_env, friday)
    number = 4101
    command = open_case(
        number,
        "eu-software-001:gold",
        friday,
        routing=CaseRouting(customer_emails=(ANN,), agents_email=TEAM),
        severity="sev1",
        channel="email",
        source_message_id=SOURCE,
    )
    handle = await start(client, command, task_queue)

    (acknowledgement,) = await mails_to(inbox, ANN, 1)
    assert acknowledgement["Subject"] == f"[Case #{number}] Received: {TITLE}"
    assert acknowledgement["Message-ID"] == message_id(f"case-{number}/1/email:{ANN}")
    assert acknowledgement["In-Reply-To"] == f"<{SOURCE}>"
    assert acknowledgement["References"] == f"<{SOURCE}> <case-{number}@tierline>"
    assert acknowledgement["Auto-Submitted"] == "auto-generated"
    assert acknowledgement["X-Auto-Response-Suppress"] == "All"
    due = clock(await handle.query(CaseWorkflow.view), ClockName.first_response).due_at
    assert due is not None
    # Friday 16:00 + 8 business hours is Monday 16:00 (the case opened a moment after 16:00).
    expected = EU_OFFICE.at(day + timedelta(days=3), 16)
    assert timedelta(0) <= due - expected <= timedelta(seconds=1)
    content = acknowledgement.get_payload(decode=True)
    assert isinstance(content, bytes)
    body = content.decode()
    assert f"opened case {number} for it" in body
    assert f"We will respond by {berlin_text(expected)}." in body
    (team,) = await mails_to(inbox, TEAM, 1)
    assert team["Subject"] == f"[Case #{number}] Opened: {TITLE}"
    assert team["In-Reply-To"] == f"<{SOURCE}>"

    await execute_command(handle, RespondPublicly(actor=AGENT, message="Looking into it."))
    _, response = await mails_to(inbox, ANN, 2)
    assert response["Subject"] == f"[Case #{number}] Answered: {TITLE}"
    assert response["In-Reply-To"] == f"<case-{number}@tierline>"
    assert response["References"] == f"<{SOURCE}> <case-{number}@tierline>"
    assert response["Auto-Submitted"] == "auto-generated"
    assert response["Message-ID"] not in (acknowledgement["Message-ID"], team["Message-ID"])
    assert len(inbox.messages) == 3
