"""The case workflow's tiers and SLA clocks, on the time-skipping server with real
activities writing to SQLite and delivering over real SMTP and HTTP on localhost."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from db.read_model import CaseEventRecord, NotificationRecord
from models.case import CaseRouting, CaseStatus
from models.clocks import ClockName, ClockState
from models.commands import (
    AddInternalNote,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ConfirmResolution,
    CustomerReply,
    ReopenCase,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from settings import Settings
from tests.builders import AGENT, CUSTOMER, open_case
from tests.conftest import Hooks, Inbox
from tests.workflows.case_harness import (
    CaseHandle,
    clock,
    skip_to,
    start,
    terminate_started,
    view_when,
)
from tests.workflows.office_hours import BERLIN, EU_OFFICE, friday_before_open_monday
from worker import build_worker
from workflows.case import CaseWorkflow, execute_command

WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}
SECRET = "test-secret"


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    smtp_inbox: tuple[Inbox, int],
) -> AsyncIterator[Client]:
    settings = Settings(smtp_port=smtp_inbox[1], webhook_secret=SECRET)
    client = time_skipping_env.client
    async with build_worker(client, sqlite_engine, task_queue, activity_executor, settings):
        yield client
        await terminate_started()


def events(engine: Engine, number: int) -> list[CaseEventRecord]:
    with Session(engine) as session:
        rows = session.exec(
            select(CaseEventRecord)
            .where(CaseEventRecord.case_number == number)
            .order_by(CaseEventRecord.seq)  # type: ignore[arg-type]
        )
        return list(rows)


async def caught_up(engine: Engine, number: int, seq: int, within: float = 10.0) -> None:
    """Wait until the read model holds the case's events up to `seq`: a timer-driven
    change is visible to queries a moment before its projection activity has run."""
    async with asyncio.timeout(within):
        while True:
            recorded = events(engine, number)
            if recorded and recorded[-1].seq >= seq:
                return
            await asyncio.sleep(0.05)


def kinds(engine: Engine, number: int) -> list[str]:
    return [e.kind for e in events(engine, number)]


async def test_seed_001_gold_first_response_runs_over_the_weekend(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    # A working Friday before a working Monday (Germany's holidays skipped), so the test
    # reads a plain weekend whatever day it runs.
    day = friday_before_open_monday(EU_OFFICE, await time_skipping_env.get_current_time())
    friday = EU_OFFICE.at(day, 16)
    await skip_to(time_skipping_env, friday)
    handle = await start(
        client, open_case(1, "eu-software-001:gold", friday, severity="sev1"), task_queue
    )
    opened = await handle.query(CaseWorkflow.view)
    first_response = clock(opened, ClockName.first_response)
    assert first_response.due_at is not None and first_response.due_local is not None
    due_local = first_response.due_at.astimezone(BERLIN)
    # Friday 16:00 + 8 business hours on Mon-Fri 09:00-17:00 is Monday 16:00.
    expected = EU_OFFICE.at(day + timedelta(days=3), 16)
    # The case opened a fraction of a second after 16:00; business time counts whole seconds.
    assert timedelta(0) <= due_local - expected <= timedelta(seconds=1)
    assert first_response.due_local.startswith(due_local.date().isoformat())

    warn_at = due_local.replace(hour=14)
    await skip_to(time_skipping_env, warn_at - timedelta(seconds=5))
    view = await handle.query(CaseWorkflow.view)
    assert not clock(view, ClockName.first_response).warned

    await skip_to(time_skipping_env, warn_at + timedelta(seconds=5))
    view = await view_when(handle, lambda v: clock(v, ClockName.first_response).warned)
    assert not clock(view, ClockName.first_response).breached

    await skip_to(time_skipping_env, first_response.due_at + timedelta(seconds=5))
    view = await view_when(handle, lambda v: clock(v, ClockName.first_response).breached)
    assert view.breached
    await caught_up(sqlite_engine, 1, view.seq)
    recorded = kinds(sqlite_engine, 1)
    assert recorded.count("clock_warned") == 1
    assert recorded.count("clock_breached") == 1
    warned = next(e for e in events(sqlite_engine, 1) if e.kind == "clock_warned")
    assert warned.at >= warn_at
    assert warned.at - warn_at < timedelta(seconds=10)


async def test_breaches_and_customer_requests_climb_the_chain_and_notify_once(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    smtp_inbox: tuple[Inbox, int],
    webhook_receiver: tuple[Hooks, str],
) -> None:
    inbox, _ = smtp_inbox
    hooks, hook_url = webhook_receiver
    hooks.failures_left = 2  # the customer's endpoint fails twice, then accepts
    routing = CaseRouting(
        customer_emails=("ann@acme.example",),
        customer_webhook=hook_url,
        escalation_contacts={1: "lead@vendor.example", 2: "manager@vendor.example"},
        dedicated_engineer="dse@vendor.example",
    )
    now = await time_skipping_env.get_current_time()
    handle = await start(
        client,
        open_case(2, "short-sla:fast", now, routing=routing, severity="critical"),
        task_queue,
    )
    # First response (10 minutes) is missed: team lead.
    await skip_to(time_skipping_env, now + timedelta(minutes=11))
    view = await view_when(handle, lambda v: v.escalation_level == 1)
    assert view.escalation_title == "Support team lead"

    # The customer asks: department manager.
    view = await execute_command(
        handle,
        RequestManagementEscalation(actor=CUSTOMER, reason="production is down"),
    )
    assert view.escalation_level == 2

    # The periodic update (30 minutes) is missed: executive management.
    await skip_to(time_skipping_env, now + timedelta(minutes=31))
    view = await view_when(handle, lambda v: v.escalation_level == 3)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await execute_command(
            handle,
            RequestManagementEscalation(actor=CUSTOMER, reason="still down"),
        )
    assert "top of the management chain" in str(refused.value.cause)

    await execute_command(
        handle,
        ResolveCase(actor=AGENT, summary="restarted the queue", root_cause_analysis="disk full"),
    )
    await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
    final = await handle.result()
    assert final.status is CaseStatus.closed

    escalations = [e for e in events(sqlite_engine, 2) if e.kind == "management_escalated"]
    assert [(e.data["level"], e.actor_role) for e in escalations] == [
        (1, "system"),
        (2, "customer"),
        (3, "system"),
    ]
    assert len(inbox.to("lead@vendor.example")) == 1
    assert len(inbox.to("manager@vendor.example")) == 1
    # The dedicated engineer hears of every event, each once.
    seqs = [e.seq for e in events(sqlite_engine, 2)]
    assert len(inbox.to("dse@vendor.example")) == len(seqs)
    with Session(sqlite_engine) as session:
        records = list(session.exec(select(NotificationRecord)))
    assert {r.status for r in records} == {"sent"}
    assert len({r.key for r in records}) == len(records)
    webhook_keys = [headers["Idempotency-Key"] for headers, _ in hooks.calls]
    assert len(webhook_keys) == len(set(webhook_keys))
    assert any(r.attempts == 3 for r in records if r.channel == "webhook")
    for headers, body in hooks.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Tierline-Signature"] == expected


async def test_waiting_on_customer_pauses_resolution(
    client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(client, open_case(3, "short-sla:fast", now, severity="normal"), task_queue)
    opened = clock(await handle.query(CaseWorkflow.view), ClockName.resolution)
    assert opened.due_at is not None

    await execute_command(
        handle,
        RequestInformation(actor=AGENT, message="Which version do you run?"),
    )
    waiting = await handle.query(CaseWorkflow.view)
    assert waiting.status is CaseStatus.waiting_on_customer
    assert clock(waiting, ClockName.resolution).state is ClockState.paused
    assert clock(waiting, ClockName.first_response).met

    await skip_to(time_skipping_env, now + timedelta(hours=5))
    view = await execute_command(handle, CustomerReply(actor=CUSTOMER, message="4.2.1"))
    resumed = clock(view, ClockName.resolution)
    assert view.status is CaseStatus.tier1
    assert resumed.state is ClockState.running
    assert resumed.due_at is not None
    shift = resumed.due_at - opened.due_at
    assert timedelta(hours=5) - timedelta(seconds=5) <= shift <= timedelta(hours=5, seconds=5)
    assert not resumed.breached


async def test_severity_change_recomputes_clocks_from_the_start(
    client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(client, open_case(4, "short-sla:fast", now, severity="normal"), task_queue)
    opened_at = (await handle.query(CaseWorkflow.view)).opened_at
    await skip_to(time_skipping_env, now + timedelta(minutes=20))
    await execute_command(
        handle,
        ChangeSeverity(actor=AGENT, severity="critical", reason="all users are affected"),
    )
    # 20 minutes are used; critical allows 10 for the first response: breached at once.
    view = await view_when(handle, lambda v: clock(v, ClockName.first_response).breached)
    resolution = clock(view, ClockName.resolution)
    assert resolution.due_at is not None
    assert abs(resolution.due_at - (opened_at + timedelta(hours=4))) < timedelta(seconds=2)
    assert view.severity == "critical"


async def test_a_note_keeps_the_deadline_timer_and_a_severity_change_replaces_it(
    client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    timer_events = {EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_CANCELED}

    async def timers_written(handle: CaseHandle, since: int) -> list[EventType.ValueType]:
        history = await handle.fetch_history()
        return [e.event_type for e in history.events[since:] if e.event_type in timer_events]

    now = await time_skipping_env.get_current_time()
    handle = await start(client, open_case(8, "short-sla:fast", now, severity="normal"), task_queue)
    before = len((await handle.fetch_history()).events)
    await execute_command(handle, AddInternalNote(actor=AGENT, note="called back"))
    # The note moves no deadline: the timer for the 30-minute warning runs on untouched.
    assert await timers_written(handle, before) == []
    before = len((await handle.fetch_history()).events)
    await execute_command(
        handle,
        ChangeSeverity(actor=AGENT, severity="critical", reason="all users are affected"),
    )
    # Critical warns after 7.5 minutes: the old timer goes, one for the new deadline comes.
    written = await timers_written(handle, before)
    assert sorted(written) == sorted(timer_events)
    await skip_to(time_skipping_env, now + timedelta(minutes=11))
    view = await view_when(handle, lambda v: clock(v, ClockName.first_response).breached)
    assert clock(view, ClockName.first_response).warned


async def test_tier1_target_moves_the_case_to_tier2(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(client, open_case(5, "short-sla:fast", now, severity="normal"), task_queue)
    assert (await handle.query(CaseWorkflow.view)).status is CaseStatus.tier1
    await skip_to(time_skipping_env, now + timedelta(minutes=61))
    view = await view_when(handle, lambda v: v.tier == 2)
    assert view.status is CaseStatus.tier2
    await caught_up(sqlite_engine, 5, view.seq)
    moved = next(e for e in events(sqlite_engine, 5) if e.kind == "tier_escalated")
    assert (moved.actor_role, moved.data["to_tier"]) == ("system", 2)


async def test_refused_actions_write_nothing(
    client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    handle: CaseHandle = await start(
        client, open_case(6, "short-sla:fast", now, severity="critical"), task_queue
    )
    before = await handle.fetch_history()
    seq_before = (await handle.query(CaseWorkflow.view)).seq
    for command, reason in [
        (ConfirmResolution(actor=CUSTOMER), "only a resolved case"),
        (CloseCase(actor=AGENT, reason="done"), "only a resolved case"),
        (
            ResolveCase(actor=AGENT, summary="fixed"),
            "requires a root-cause analysis",
        ),
        (
            CloseOutOfScope(actor=AGENT, exclusion="weather", reason="x"),
            "no exclusion 'weather'",
        ),
        (RespondPublicly(actor=CUSTOMER, message="hi"), "customer may not"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await execute_command(handle, command)
        assert reason in str(refused.value.cause)
    after = await handle.fetch_history()
    # The test server records the workflow tasks that ran the validators (a real server
    # drops them); nothing else: no accepted update, no activity, no new case event.
    added = {event.event_type for event in after.events[len(before.events) :]}
    assert added <= WORKFLOW_TASK_EVENTS
    assert (await handle.query(CaseWorkflow.view)).seq == seq_before


async def test_reopen_within_window_and_out_of_scope(
    client: Client,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(client, open_case(7, "short-sla:fast", now, severity="normal"), task_queue)
    await execute_command(handle, ResolveCase(actor=AGENT, summary="cleared the cache"))
    closed = await execute_command(handle, ConfirmResolution(actor=CUSTOMER))
    assert closed.status is CaseStatus.closed
    reopened = await execute_command(handle, ReopenCase(actor=CUSTOMER, reason="it came back"))
    assert reopened.status is CaseStatus.tier1
    assert clock(reopened, ClockName.resolution).state is ClockState.running

    out = await execute_command(
        handle,
        CloseOutOfScope(actor=AGENT, exclusion="third-party", reason="their proxy drops it"),
    )
    assert out.status is CaseStatus.closed_out_of_scope
    assert out.exclusion == "third-party"
    final = await handle.result()
    assert final.status is CaseStatus.closed_out_of_scope
    assert kinds(sqlite_engine, 7)[-1] == "closed_out_of_scope"
