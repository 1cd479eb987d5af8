"""The compiled-calendar cache in the SDK's workflow sandbox, which re-imports modules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from policies import business_time
from policies.business_time import due_at
from policies.snapshot import TimeBasis
from runtime import sandboxed_runner
from tests.policies.due_workflow import DueAtWorkflow, DueQuestion
from tests.policies.oracle import make_calendar, week


async def test_workflows_in_the_sandbox_share_the_workers_compiled_calendars(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A calendar no other test compiles, so the cache's counts are this test's alone.
    snapshot = make_calendar(
        "Asia/Tokyo", week([("09:00", "12:00"), ("13:00", "18:00")]), name="tokyo_sandbox"
    )
    start = datetime(2026, 3, 6, 7, 30, tzinfo=UTC)
    expected = due_at(start, 20 * 3600, TimeBasis.business, snapshot)
    before = business_time._compile_by_value.cache_info()
    client = time_skipping_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[DueAtWorkflow],
        workflow_runner=sandboxed_runner(),
    ):
        for _ in range(3):
            answer = await client.execute_workflow(
                DueAtWorkflow.run,
                DueQuestion(start=start, seconds=20 * 3600, calendar=snapshot),
                id=f"due-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            assert answer == expected
    after = business_time._compile_by_value.cache_info()
    # Each workflow deserialized a snapshot of its own and found the calendar the test
    # compiled, by value, in the worker's module: the sandbox did not import a fresh one.
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
