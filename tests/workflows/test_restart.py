"""A case survives a restart of the dev server on the same SQLite file, timers included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus

from models.case import CaseStatus, case_workflow_id
from tests.builders import open_case
from tests.conftest import start_dev_server
from tests.workflows.case_harness import STARTED, start
from worker import build_worker
from workflows.case import CaseWorkflow


async def test_case_survives_dev_server_restart(
    tmp_path: Path, sqlite_engine: Engine, task_queue: str, activity_executor: ThreadPoolExecutor
) -> None:
    database = tmp_path / "temporal.db"
    env = await start_dev_server(database)
    try:
        async with build_worker(env.client, sqlite_engine, task_queue, activity_executor):
            command = open_case(3, "short-sla:fast", datetime.now(UTC), severity="critical")
            handle = await start(env.client, command, task_queue)
            STARTED.clear()
            before = await handle.query(CaseWorkflow.view)
    finally:
        await env.shutdown()

    env = await start_dev_server(database)
    try:
        async with build_worker(env.client, sqlite_engine, task_queue, activity_executor):
            handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(3))
            description = await handle.describe()
            after = await handle.query(CaseWorkflow.view)
            await handle.terminate("test over")
    finally:
        await env.shutdown()

    assert description.status == WorkflowExecutionStatus.RUNNING
    assert after.opened_at == before.opened_at
    assert after.status is CaseStatus.tier2
    assert after.details == before.details
    assert after.next_due_at == before.next_due_at
