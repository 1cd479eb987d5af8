"""The case workflow projects itself into the read model and its search attributes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.projection import CaseProjection
from db.read_model import CaseEventRecord, CaseRecord
from models import transitions
from models.case import CaseEvent, CaseProjected, CaseStatus
from tests.builders import CUSTOMER, open_case
from tests.workflows.case_harness import start, terminate_started
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.search_attributes import CASE_ORGANISATION, CASE_SEVERITY, CASE_STATUS, CASE_TIER


async def test_open_case_projects_into_read_model(
    time_skipping_env: WorkflowEnvironment,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    client = time_skipping_env.client
    now = await time_skipping_env.get_current_time()
    command = open_case(41, "short-sla:fast", now, severity="critical", organisation="globex")
    async with build_worker(client, read_model, task_queue, activity_executor):
        handle = await start(client, command, task_queue)
        view = await handle.query(CaseWorkflow.view)
        description = await handle.describe()
        await terminate_started()

    assert view.status is CaseStatus.tier2  # critical starts in tier 2 on this plan
    assert view.case_id == "case-41"
    attributes = description.typed_search_attributes
    assert attributes.get(CASE_STATUS) == "tier2"
    assert attributes.get(CASE_TIER) == 2
    assert attributes.get(CASE_SEVERITY) == "critical"
    assert attributes.get(CASE_ORGANISATION) == "globex"
    with Session(read_model) as session:
        row = session.get(CaseRecord, 41)
        assert row is not None
        assert (row.status, row.organisation, row.severity) == ("tier2", "globex", "critical")
        assert row.seq == view.seq
        assert row.next_due_at is not None
        timeline = session.exec(select(CaseEventRecord).where(CaseEventRecord.case_number == 41))
        assert next(event.kind for event in timeline) == "opened"


def test_projection_ignores_replayed_and_stale_events(read_model: Engine) -> None:
    projection = CaseProjection(read_model)
    env = ActivityEnvironment()
    opened = datetime(2026, 3, 2, 9, tzinfo=UTC)
    state, _ = transitions.open_case(
        open_case(7, "short-sla:fast", opened, severity="normal"), opened
    )
    base = transitions.view(state, opened)
    event = CaseEvent(seq=base.seq, at=opened, actor=CUSTOMER, kind="opened")
    env.run(projection.project_case, CaseProjected(view=base, events=[event]))
    newer = base.model_copy(update={"status": CaseStatus.tier2, "tier": 2, "seq": base.seq + 1})
    env.run(projection.project_case, CaseProjected(view=newer))
    # A retried older event, and the newer one delivered twice, change nothing.
    env.run(projection.project_case, CaseProjected(view=base, events=[event]))
    env.run(projection.project_case, CaseProjected(view=newer))

    with Session(read_model) as session:
        row = session.get(CaseRecord, 7)
        assert row is not None
        assert (row.status, row.tier, row.seq) == ("tier2", 2, base.seq + 1)
        events = list(session.exec(select(CaseEventRecord)))
        assert len(events) == 1
