"""The worker's metrics endpoint (the Temporal SDK's runtime serving Prometheus), scraped
over real HTTP after a real case on the time-skipping server: opened, warned, breached,
answered late, with notifications over real SMTP. Each tierline_* metric moves by exactly
what the case's history records, and a worker that replays every workflow task (no
cache) counts nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.read_model import CaseEventRecord, NotificationRecord
from models.case import CaseRouting
from models.clocks import ClockName
from models.commands import RespondPublicly
from runtime import metrics_runtime
from settings import Settings
from tests.builders import AGENT, CATALOG_DIR, open_case
from tests.conftest import Inbox, free_port
from tests.workflows.case_harness import clock, skip_to, start, terminate_started, view_when
from worker import build_worker, count_from_zero
from workflows.case import CaseWorkflow, execute_command

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SUPPORT = "support@tierline.example"


@dataclass
class Scraped:
    client: Client
    url: str

    async def samples(self) -> Samples:
        async with httpx.AsyncClient() as http:
            response = await http.get(self.url)
        assert response.status_code == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels` (the SDK adds
    its own: namespace, task queue, workflow type, service name)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


@pytest.fixture
async def worker(
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    smtp_inbox: tuple[Inbox, int],
) -> AsyncIterator[Scraped]:
    port = free_port()
    runtime = metrics_runtime("127.0.0.1", port)
    client = await Client.connect(
        time_skipping_env.client.service_client.config.target_host,
        namespace=time_skipping_env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    # No cache: every workflow task replays the history so far, and what the replay
    # goes over again must not be counted again.
    settings = Settings(
        smtp_port=smtp_inbox[1],
        webhook_secret="metrics-test",
        worker_max_cached_workflows=0,
        catalog_dir=CATALOG_DIR,
        temporal_namespace=client.namespace,
        temporal_task_queue=task_queue,
    )
    count_from_zero(runtime, settings)
    async with build_worker(client, sqlite_engine, task_queue, activity_executor, settings):
        yield Scraped(client, f"http://127.0.0.1:{port}/metrics")
        await terminate_started()


def recorded(engine: Engine, number: int) -> list[CaseEventRecord]:
    with Session(engine) as session:
        return list(
            session.exec(select(CaseEventRecord).where(CaseEventRecord.case_number == number))
        )


async def all_delivered(engine: Engine, within: float = 20.0) -> list[NotificationRecord]:
    rows: list[NotificationRecord] = []
    try:
        async with asyncio.timeout(within):
            while True:
                with Session(engine) as session:
                    rows = list(session.exec(select(NotificationRecord)))
                if rows and all(row.status == "sent" for row in rows):
                    return rows
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not delivered: {[(r.recipient, r.status) for r in rows]}") from None


async def test_a_late_case_moves_each_metric_by_what_happened(
    worker: Scraped,
    time_skipping_env: WorkflowEnvironment,
    sqlite_engine: Engine,
    task_queue: str,
    smtp_inbox: tuple[Inbox, int],
) -> None:
    now = await time_skipping_env.get_current_time()
    handle = await start(
        worker.client,
        open_case(1, "short-sla:fast", now, CaseRouting(agents_email=SUPPORT), severity="critical"),
        task_queue,
    )
    opened = await handle.query(CaseWorkflow.view)
    due = clock(opened, ClockName.first_response).due_at
    assert due is not None
    await skip_to(time_skipping_env, due + timedelta(seconds=5))
    await view_when(handle, lambda v: clock(v, ClockName.first_response).breached)
    answered = await execute_command(
        handle, RespondPublicly(actor=AGENT, message="Looking at it now")
    )
    deliveries = await all_delivered(sqlite_engine)
    samples = await worker.samples()

    plan = {"catalog": "short-sla", "plan": "fast"}
    opens = {**plan, "severity": "critical", "channel": "web"}
    assert total(samples, "tierline_cases_opened_total", **opens) == 1
    first_response = {**plan, "clock": "first_response"}
    assert total(samples, "tierline_sla_warnings_total", **first_response) == 1
    assert total(samples, "tierline_sla_breaches_total", **first_response) == 1
    assert total(samples, "tierline_sla_breaches_total") == 1  # no other clock breached

    # Lateness: from the due instant to the breach the workflow recorded.
    breach = next(e for e in recorded(sqlite_engine, 1) if e.kind == "clock_breached")
    due_at = datetime.fromisoformat(breach.data["due_at"])
    late = (breach.at.replace(tzinfo=due_at.tzinfo) - due_at).total_seconds()
    lateness = {"clock": "first_response"}
    assert total(samples, "tierline_sla_breach_lateness_seconds_count", **lateness) == 1
    assert total(samples, "tierline_sla_breach_lateness_seconds_sum", **lateness) == (
        pytest.approx(late)
    )

    # The response came after the target: its business seconds, counted as missed.
    elapsed = clock(answered, ClockName.first_response).elapsed_seconds
    assert elapsed > 600
    seconds = {**plan, "severity": "critical"}
    assert total(samples, "tierline_first_response_business_seconds_count", **seconds) == 1
    assert total(samples, "tierline_first_response_business_seconds_sum", **seconds) == elapsed
    assert total(samples, "tierline_first_responses_total", **plan, met="false") == 1
    assert total(samples, "tierline_first_responses_total", **plan, met="true") == 0

    # The opening, the warning and the breach went to the support inbox, each sent once.
    assert sorted(d.event_kind for d in deliveries) == ["clock_breached", "clock_warned", "opened"]
    assert len(smtp_inbox[0].to(SUPPORT)) == 3
    notifications = {"channel": "email"}
    assert total(samples, "tierline_notifications_total", **notifications, outcome="sent") == 3
    assert total(samples, "tierline_notifications_total", outcome="failed") == 0

    # Every change was projected once, with its lag observed; none failed.
    assert total(samples, "tierline_projection_lag_seconds_count") >= 4
    assert total(samples, "tierline_projection_failures_total") == 0

    # Started at 0 when the worker started, so that Prometheus sees each first step: the
    # counted series are the zeroed ones (no second series beside them), and a clock or
    # plan that saw nothing is there at 0.
    def zeroed(name: str, **labels: str) -> bool:
        wanted = set(labels.items())
        return any(n == name and wanted <= have for n, have in samples) and not total(
            samples, name, **labels
        )

    assert zeroed("tierline_sla_breaches_total", **plan, clock="resolution")
    assert zeroed("tierline_cases_opened_total", catalog="short-sla", plan="office")
    assert zeroed("tierline_cases_closed_total", **plan, how="out_of_scope")
    series = [
        labels
        for name, labels in samples
        if name == "tierline_sla_breaches_total"
        and ("clock", "first_response") in labels
        and ("plan", "fast") in labels
    ]
    assert len(series) == 1

    # The SDK's own runtime metrics are served beside them.
    names = {name for name, _ in samples}
    assert "temporal_workflow_task_schedule_to_start_latency_count" in names
    assert "temporal_sticky_cache_size" in names or "temporal_sticky_cache_hit" in names
    # Bounded labels: no case number, no address.
    labels = {value for _, pairs in samples for _, value in pairs}
    assert "case-1" not in labels and SUPPORT not in labels
