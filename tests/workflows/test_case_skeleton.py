"""The case workflow opens, projects itself and is findable by its search attributes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.projection import CaseProjection
from models.case import CaseProjected, CaseStatus, CaseView, OpenCase, case_workflow_id
from models.read_model import CaseRecord
from tests.builders import case_details
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.search_attributes import CASE_ORGANISATION, CASE_SEVERITY, CASE_STATUS


async def test_open_case_projects_into_read_model(
    time_skipping_env: WorkflowEnvironment,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    client = time_skipping_env.client
    details = case_details(severity="sev1", organisation="globex")
    async with build_worker(client, read_model, task_queue, activity_executor):
        handle = await client.start_workflow(
            CaseWorkflow.run,
            OpenCase(number=41, details=details, opened_by="agent:ann"),
            id=case_workflow_id(41),
            task_queue=task_queue,
        )
        view = await handle.execute_update(CaseWorkflow.opened)
        description = await handle.describe()
        await handle.terminate("test over")

    assert view.status is CaseStatus.tier1
    assert view.case_id == "case-41"
    attributes = description.typed_search_attributes
    assert attributes.get(CASE_STATUS) == "tier1"
    assert attributes.get(CASE_SEVERITY) == "sev1"
    assert attributes.get(CASE_ORGANISATION) == "globex"
    with Session(read_model) as session:
        row = session.get(CaseRecord, 41)
        assert row is not None
        assert (row.status, row.organisation, row.severity, row.seq) == (
            "tier1",
            "globex",
            "sev1",
            1,
        )
        assert row.view["details"]["title"] == details.title


def test_projection_ignores_replayed_and_stale_events(read_model: Engine) -> None:
    projection = CaseProjection(read_model)
    env = ActivityEnvironment()
    opened = datetime(2026, 3, 2, 9, tzinfo=UTC)
    base = CaseView(
        number=7,
        case_id="case-7",
        status=CaseStatus.tier1,
        tier=1,
        details=case_details(),
        opened_by="customer:ann",
        opened_at=opened,
        updated_at=opened,
        seq=2,
    )
    env.run(projection.project_case, CaseProjected(view=base))
    newer = base.model_copy(update={"status": CaseStatus.tier2, "tier": 2, "seq": 3})
    env.run(projection.project_case, CaseProjected(view=newer))
    # A retried older event, and the newer one delivered twice, change nothing.
    env.run(projection.project_case, CaseProjected(view=base))
    env.run(projection.project_case, CaseProjected(view=newer))

    with Session(read_model) as session:
        row = session.get(CaseRecord, 7)
        assert row is not None
        assert (row.status, row.tier, row.seq) == ("tier2", 2, 3)
