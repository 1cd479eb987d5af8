"""The release projection behind `workflow.patched`: histories recorded before it still
replay, and a release started after it lands in the read model's `releases` table."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.releases import ReleaseProjection
from db.read_model import ReleaseRecord
from models.case import Actor, Role
from models.release import PlanRelease, PublishHotfix, ReleaseAction, ReleaseKind
from runtime import sandboxed_runner
from workflows.release import ReleaseWorkflow

HERE = Path(__file__).parent
REX = Actor(id="rex", role=Role.release_manager)


def replayer() -> Replayer:
    return Replayer(
        workflows=[ReleaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=sandboxed_runner(),
    )


async def test_history_recorded_before_the_projection_replays() -> None:
    # Recorded by the release workflow as it was before the `release-projection` patch:
    # planned, started, hotfix published, shipped, closed after its seven days.
    history = WorkflowHistory.from_json(
        "release-4.2.2", (HERE / "shipped-before-projection.json").read_text()
    )
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_new_release_is_projected_and_its_history_replays(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    activity_executor: ThreadPoolExecutor,
) -> None:
    client = time_skipping_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ReleaseWorkflow],
        activities=[ReleaseProjection(sqlite_engine).project_release],
        activity_executor=activity_executor,
        workflow_runner=sandboxed_runner(),
    ):
        handle = await client.start_workflow(
            ReleaseWorkflow.run,
            PlanRelease(version="5.1", kind=ReleaseKind.patch, planned_by=REX),
            id=f"release-5.1-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue,
        )
        await handle.execute_update(ReleaseWorkflow.start, ReleaseAction(actor=REX))
        await handle.execute_update(
            ReleaseWorkflow.publish_hotfix, PublishHotfix(build="b7", actor=REX)
        )
        await handle.execute_update(ReleaseWorkflow.ship, ReleaseAction(actor=REX))
        await handle.result()
        history = await handle.fetch_history()

    with Session(sqlite_engine) as session:
        row = session.get(ReleaseRecord, "5.1")
        assert row is not None
        assert (row.status, row.hotfix_build, row.seq) == ("shipped", "b7", 4)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
