"""The Tierline worker: runs case workflows and their activities on one task queue.

An entry point (`python worker.py`); what other processes share with it (the client,
the runners, the time-zone data) lives in `runtime`."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.notices import NoticeProjection
from activities.notify import Notifier
from activities.projection import CaseProjection
from activities.releases import ReleaseProjection
from db.read_model import create_schema, make_engine
from observability import logs, tracing
from observability.case_metrics import zero_case_counters
from policies.loading import load_catalogs
from runtime import (
    WORKFLOWS,
    connect,
    ensure_search_attributes,
    metrics_runtime,
    pin_time_zone_data,
    tune_gc,
    workflow_runner,
)
from settings import Settings, get_settings
from workflows.case import CaseWorkflow

log = logging.getLogger("tierline.worker")


def build_worker(
    client: Client,
    engine: Engine,
    task_queue: str,
    executor: ThreadPoolExecutor,
    settings: Settings | None = None,
) -> Worker:
    settings = settings or Settings()
    projection = CaseProjection(engine)
    notifier = Notifier(
        engine,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        sender=settings.smtp_sender,
        webhook_secret=settings.webhook_secret,
        case_tag_format=settings.case_tag_format,
        portal_url=settings.links_base,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            projection.project_case,
            projection.project_case_local,
            notifier.deliver,
            NoticeProjection(engine).record_outcome,
            ReleaseProjection(engine).project_release,
        ],
        activity_executor=executor,
        workflow_runner=workflow_runner(settings),
        max_cached_workflows=settings.worker_max_cached_workflows,
    )


def count_from_zero(runtime: Runtime, settings: Settings) -> None:
    """Start every case counter of every plan of the catalogs at 0 on the series the case
    workflows of this task queue add to (see `zero_case_counters`)."""
    meter = runtime.metric_meter.with_additional_attributes(
        {
            "namespace": settings.temporal_namespace,
            "task_queue": settings.temporal_task_queue,
            "workflow_type": CaseWorkflow.__name__,
        }
    )
    zero_case_counters(meter, load_catalogs(settings.catalog_dir).values())


async def main() -> None:
    pin_time_zone_data()
    settings = get_settings()
    logs.configure(settings, "worker")
    tracing.configure(settings, "tierline-worker")
    settings.check_for_production()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    runtime = metrics_runtime(settings.worker_metrics_host, settings.worker_metrics_port)
    if settings.worker_metrics_port:
        count_from_zero(runtime, settings)
    client = await connect(settings, runtime)
    await ensure_search_attributes(client, settings.temporal_namespace)
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, engine, settings.temporal_task_queue, executor, settings)
        tune_gc()
        log.info(
            "worker polling %s on %s%s",
            settings.temporal_task_queue,
            client.service_client.config.target_host,
            f"; metrics on http://{settings.worker_metrics_host}:{settings.worker_metrics_port}"
            "/metrics"
            if settings.worker_metrics_port
            else "",
        )
        await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
