"""Releases carry tier-3 cases to a fix, on the time-skipping server with real activities."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.errors import Conflict
from api.limits import KeyedLimiter
from api.releases import link, plan, unlink
from db.read_model import CaseEventRecord, CaseRecord
from models.case import CaseStatus, OpenCase
from models.commands import EscalateTier
from models.release import (
    CancelRelease,
    PlanRelease,
    PublishHotfix,
    ReleaseAction,
    ReleaseKind,
    ReleaseView,
    release_workflow_id,
)
from tests.builders import AGENT, case_details, open_case, plan_snapshot
from tests.workflows.case_harness import STARTED, CaseHandle, start, terminate_started, view_when
from worker import build_worker
from workflows.case import CaseWorkflow, execute_command
from workflows.release import ReleaseWorkflow

MANAGER = AGENT.model_copy(update={"id": "rex"})
ReleaseHandle = WorkflowHandle[ReleaseWorkflow, ReleaseView]


@pytest.fixture
async def client(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    client = time_skipping_env.client
    async with build_worker(client, sqlite_engine, task_queue, activity_executor):
        yield client
        await terminate_started()


async def tier3_case(client: Client, task_queue: str, command: OpenCase) -> CaseHandle:
    handle = await start(client, command, task_queue)
    await execute_command(handle, EscalateTier(actor=AGENT, tier=3, reason="needs a code fix"))
    return handle


async def new_release(client: Client, task_queue: str, version: str) -> ReleaseHandle:
    command = PlanRelease(version=version, kind=ReleaseKind.hotfix, planned_by=MANAGER)
    await plan(client, task_queue, command)
    handle: ReleaseHandle = client.get_workflow_handle(release_workflow_id(version))
    STARTED.append(handle)
    return handle


def events_of(engine: Engine, kind: str) -> Counter[int]:
    with Session(engine) as session:
        rows = session.exec(select(CaseEventRecord).where(col(CaseEventRecord.kind) == kind))
        return Counter(row.case_number for row in rows)


async def wait_for_events(
    engine: Engine, kind: str, cases: int, within: float = 60
) -> Counter[int]:
    async with asyncio.timeout(within):
        while len(counted := events_of(engine, kind)) < cases:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return counted


async def test_only_tier3_cases_link_and_a_case_joins_one_release(
    client: Client, time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    limiter = KeyedLimiter()
    tier2 = await start(client, open_case(1, "short-sla:fast", now), task_queue)
    await new_release(client, task_queue, "4.2.1")
    await new_release(client, task_queue, "4.3.0")
    with pytest.raises(Conflict, match="only tier-3 cases can be linked"):
        await link(client, limiter, "4.2.1", 1, MANAGER)
    assert (await tier2.query(CaseWorkflow.view)).release is None

    await tier3_case(client, task_queue, open_case(2, "short-sla:fast", now))
    # Two managers race to link the same case to two releases: exactly one wins.
    outcomes = await asyncio.gather(
        link(client, limiter, "4.2.1", 2, MANAGER),
        link(client, limiter, "4.3.0", 2, MANAGER),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 1
    # Linking again is harmless; unlinking from either side is idempotent.
    won = next(o for o in outcomes if not isinstance(o, BaseException))
    again = await link(client, limiter, won.version, 2, MANAGER)
    assert [case.number for case in again.cases] == [2]
    await unlink(client, limiter, won.version, 2, MANAGER, "wrong release")
    gone = await unlink(client, limiter, won.version, 2, MANAGER, "wrong release")
    assert gone.cases == []


async def ship_linked_cases(
    client: Client,
    now: datetime,
    engine: Engine,
    task_queue: str,
    executor: ThreadPoolExecutor,
    total: int,
    restart_worker: bool,
) -> None:
    limiter = KeyedLimiter()
    worker: Worker = build_worker(client, engine, task_queue, executor)
    await worker.__aenter__()
    version = f"5.0.{total}"
    release = await new_release(client, task_queue, version)
    gate = asyncio.Semaphore(25)

    async def prepare(number: int) -> None:
        async with gate:
            await tier3_case(client, task_queue, open_case(number, "short-sla:fast", now))
            await link(client, limiter, version, number, MANAGER)

    await asyncio.gather(*(prepare(n) for n in range(1, total + 1)))
    shipped = await release.execute_update(ReleaseWorkflow.ship, ReleaseAction(actor=MANAGER))
    assert (len(shipped.cases), shipped.status.value) == (total, "shipped")
    # Shipping twice is harmless.
    await release.execute_update(ReleaseWorkflow.ship, ReleaseAction(actor=MANAGER))
    if restart_worker:
        # The worker stops during the fan-out; a new one carries on from the history.
        await worker.__aexit__(None, None, None)
        worker = build_worker(client, engine, task_queue, executor)
        await worker.__aenter__()
    try:
        resolved = await wait_for_events(engine, "release_shipped", total, within=300)
        assert set(resolved) == set(range(1, total + 1))
        assert set(resolved.values()) == {1}
        await wait_for_events(engine, "resolved", total)
        with Session(engine) as session:
            record = session.get(CaseRecord, 7)
        assert record is not None
        assert record.status == "resolved"
        assert record.view["resolution_summary"] == f"Fixed in hotfix {version}"
    finally:
        await terminate_started()  # even after a failure, or the next test meets them
        await worker.__aexit__(None, None, None)


async def test_a_worker_restart_during_the_fan_out_loses_and_repeats_nothing(
    dev_client: Client,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    # On the dev server: the time-skipping server never moves a task off a stopped
    # worker's sticky queue (a real server does after 5 s).
    await ship_linked_cases(
        dev_client, datetime.now(UTC), sqlite_engine, task_queue, activity_executor, 30,
        restart_worker=True,
    )  # fmt: skip


async def test_shipping_resolves_each_of_500_linked_cases_once(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    now = await time_skipping_env.get_current_time()
    await ship_linked_cases(
        time_skipping_env.client, now, sqlite_engine, task_queue, activity_executor, 500,
        restart_worker=False,
    )  # fmt: skip


async def test_cancelling_returns_cases_to_tier3_with_the_reason(
    client: Client, time_skipping_env: WorkflowEnvironment, sqlite_engine: Engine, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    case = await tier3_case(client, task_queue, open_case(1, "short-sla:fast", now))
    release = await new_release(client, task_queue, "6.0")
    await link(client, KeyedLimiter(), "6.0", 1, MANAGER)
    await release.execute_update(
        ReleaseWorkflow.cancel, CancelRelease(reason="regression found", actor=MANAGER)
    )
    view = await view_when(case, lambda v: v.release is None)
    assert view.status is CaseStatus.tier3
    # The view changes before the projection activity has written the event: wait for it.
    await wait_for_events(sqlite_engine, "release_cancelled", 1)
    cancelled = next(e for e in _timeline(sqlite_engine, 1) if e.kind == "release_cancelled")
    assert cancelled.reason == "regression found"
    with pytest.raises(Conflict, match="cancelled"):
        await link(client, KeyedLimiter(), "6.0", 1, MANAGER)
    assert (await case.query(CaseWorkflow.view)).release is None


async def test_priority_updates_get_the_hotfix_build_first(
    client: Client, time_skipping_env: WorkflowEnvironment, sqlite_engine: Engine, task_queue: str
) -> None:
    now: datetime = await time_skipping_env.get_current_time()
    limiter = KeyedLimiter()
    details = case_details(severity="sev2")
    early = OpenCase(
        number=1,
        details=details,
        plan=plan_snapshot("vidizmo:premium", now, addons=("priority-updates",)),
        opened_by=AGENT,
    )
    plain = OpenCase(
        number=2, details=details, plan=plan_snapshot("vidizmo:premium", now), opened_by=AGENT
    )
    early_case = await tier3_case(client, task_queue, early)
    plain_case = await tier3_case(client, task_queue, plain)
    release = await new_release(client, task_queue, "7.1")
    for number in (1, 2):
        await link(client, limiter, "7.1", number, MANAGER)
    await release.execute_update(
        ReleaseWorkflow.publish_hotfix, PublishHotfix(build="7.1-hf3", actor=MANAGER)
    )
    told = await wait_for_events(sqlite_engine, "hotfix_available", 1)
    assert set(told) == {1}
    await release.execute_update(ReleaseWorkflow.ship, ReleaseAction(actor=MANAGER))
    for handle in (early_case, plain_case):
        view = await view_when(handle, lambda v: v.status is CaseStatus.resolved)
        assert view.release == "7.1"
    assert set(events_of(sqlite_engine, "hotfix_available")) == {1}


def _timeline(engine: Engine, number: int) -> list[CaseEventRecord]:
    with Session(engine) as session:
        return list(
            session.exec(select(CaseEventRecord).where(CaseEventRecord.case_number == number))
        )
