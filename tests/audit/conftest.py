"""Shared audit fixtures: a case driven through every kind of SLA change on the
time-skipping server, its Temporal histories, its read model, and what the workflow
itself reported at several instants along the way."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from audit.history import case_histories
from db.read_model import CaseEventRecord, create_schema, make_engine
from models.case import CaseState, CaseView
from models.commands import (
    ChangeSeverity,
    CloseCase,
    CustomerReply,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from settings import Settings
from tests.builders import AGENT, CUSTOMER, open_case
from tests.workflows.case_harness import CaseHandle, start
from worker import build_worker
from workflows.case import CaseWorkflow, execute_command

HISTORIES = Path(__file__).parents[1] / "histories"
RECORDED_NUMBER = 7001


def stored(*names: str) -> list[WorkflowHistory]:
    """Stored histories (tests/histories) of one case's runs, in the order given."""
    return [
        WorkflowHistory.from_json(names[0], (HISTORIES / f"{name}.json").read_text())
        for name in names
    ]


@dataclass
class Checkpoint:
    """What the workflow reported at `at` (a moment with no workflow task in flight)."""

    label: str
    at: datetime
    state: CaseState
    view: CaseView


@dataclass
class RecordedCase:
    number: int
    engine: Engine
    opened_at: datetime
    histories: list[WorkflowHistory] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    final: CaseView | None = None

    def read_model_events(self) -> list[CaseEventRecord]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(CaseEventRecord)
                .where(CaseEventRecord.case_number == self.number)
                .order_by(CaseEventRecord.seq)  # type: ignore[arg-type]
            )
            return list(rows)


TASK_ENDS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
}


async def settled(handle: CaseHandle) -> None:
    """Wait until no workflow task and no activity of the case is in flight."""
    async with asyncio.timeout(30):
        while True:
            types = [event.event_type for event in (await handle.fetch_history()).events]
            tasks = types.count(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
            activities = types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
            if tasks == sum(map(types.count, TASK_ENDS)) and activities == sum(
                map(types.count, ACTIVITY_ENDS)
            ):
                return
            await asyncio.sleep(0.05)


async def _checkpoint(
    env: WorkflowEnvironment, handle: CaseHandle, case: RecordedCase, label: str
) -> None:
    await settled(handle)
    state = await handle.query(CaseWorkflow.state)
    view = await handle.query(CaseWorkflow.view)
    at = await env.get_current_time()
    case.checkpoints.append(Checkpoint(label=label, at=at, state=state, view=view))
    # The next action must come strictly after the checkpoint's instant: an update whose
    # workflow task starts within the same clock reading belongs to the state "as of" it.
    await env.sleep(timedelta(seconds=1))


async def _drive(env: WorkflowEnvironment, handle: CaseHandle, case: RecordedCase) -> None:
    """short-sla:fast, normal: first response 40m, periodic update 2h, resolution 8h,
    tier-1 target 1h, each warned at 75 %."""
    await env.sleep(timedelta(minutes=10))
    await _checkpoint(env, handle, case, "running")
    await execute_command(handle, RespondPublicly(actor=AGENT, message="Looking into it."))
    await env.sleep(timedelta(minutes=5))
    await _checkpoint(env, handle, case, "responded")
    await execute_command(
        handle,
        RequestInformation(actor=AGENT, message="Which version do you run?"),
    )
    await env.sleep(timedelta(hours=2))
    await _checkpoint(env, handle, case, "waiting on the customer")
    await execute_command(handle, CustomerReply(actor=CUSTOMER, message="4.2.1"))
    # The tier-1 target (45 minutes left) runs out: tier 2.
    await env.sleep(timedelta(minutes=50))
    await _checkpoint(env, handle, case, "tier-1 target breached")
    # The periodic update (restarted by the request, 2 hours) is missed: the team lead.
    await env.sleep(timedelta(minutes=75))
    await _checkpoint(env, handle, case, "periodic update breached")
    await execute_command(
        handle,
        RequestManagementEscalation(actor=CUSTOMER, reason="Production is slow."),
    )
    await execute_command(
        handle,
        ChangeSeverity(actor=AGENT, severity="critical", reason="Orders are lost."),
    )
    await env.sleep(timedelta(minutes=3))
    await _checkpoint(env, handle, case, "severity changed")
    # Resolution now has 4 hours, 2h20m used: missed 1h40m after the change.
    await env.sleep(timedelta(hours=2))
    await _checkpoint(env, handle, case, "resolution breached")
    await execute_command(
        handle,
        ResolveCase(actor=AGENT, summary="Raised the limit.", root_cause_analysis="A bad limit."),
    )
    await env.sleep(timedelta(minutes=10))
    await _checkpoint(env, handle, case, "resolved")
    await execute_command(handle, CloseCase(actor=AGENT, reason="Confirmed."))
    await env.sleep(timedelta(minutes=5))
    await _checkpoint(env, handle, case, "closed")
    case.final = await handle.result()  # the one-hour reopen window passes


@pytest.fixture(scope="session")
async def recorded_case(
    time_skipping_env: WorkflowEnvironment,
    activity_executor: ThreadPoolExecutor,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RecordedCase]:
    """One closed case on short-sla:fast that went through respond, wait on the customer,
    reply, breaches with escalation, a severity change, resolve and close."""
    env = time_skipping_env
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'read-model.db'}")
    create_schema(engine)
    queue = f"audit-{uuid.uuid4()}"
    client = env.client
    async with build_worker(client, engine, queue, activity_executor, Settings()):
        now = await env.get_current_time()
        command = open_case(RECORDED_NUMBER, "short-sla:fast", now, severity="normal")
        handle = await start(client, command, queue)
        opened = await handle.query(CaseWorkflow.view)
        case = RecordedCase(number=RECORDED_NUMBER, engine=engine, opened_at=opened.opened_at)
        try:
            await _drive(env, handle, case)
        finally:
            with contextlib.suppress(RPCError):  # completed already
                await handle.terminate("audit fixture finished")
        case.histories = await case_histories(client, RECORDED_NUMBER)
    yield case
    engine.dispose()
