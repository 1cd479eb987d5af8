"""The Tierline worker: runs case workflows and their activities on one task queue."""

from __future__ import annotations

import asyncio
import gc
import logging
import zoneinfo
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, TLSConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notices import NoticeProjection
from activities.notify import Notifier
from activities.projection import CaseProjection
from activities.releases import ReleaseProjection
from models.read_model import create_schema, make_engine
from settings import Settings, get_settings
from workflows.case import CaseWorkflow
from workflows.notice import NoticeWorkflow
from workflows.quota import QuotaWorkflow
from workflows.release import ReleaseWorkflow
from workflows.search_attributes import ALL_KEYS

log = logging.getLogger("tierline.worker")

WORKFLOWS = [CaseWorkflow, QuotaWorkflow, ReleaseWorkflow, NoticeWorkflow]


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with pure modules passed through so zone objects stay real tzinfos.

    The test suite and the audit replay gate run every workflow in it: a call that
    could replay differently (the clock, randomness, I/O) in workflow code fails there.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "models", "policies", "zoneinfo", "pydantic", "email_validator"
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflow_runner(settings: Settings | None = None) -> WorkflowRunner:
    """The runner a worker uses: the sandbox if `WORKFLOW_SANDBOX` asks for it, else
    workflows run on the worker's own modules. Both produce the same commands, so a
    history recorded under one replays under the other."""
    settings = settings or Settings()
    return sandboxed_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


async def connect(settings: Settings) -> Client:
    """A client for the configured cluster (or the embedded dev server)."""
    tls: bool | TLSConfig = False
    if settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_api_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes()
            if settings.temporal_tls_cert
            else None,
            client_private_key=settings.temporal_tls_key.read_bytes()
            if settings.temporal_tls_key
            else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes()
            if settings.temporal_tls_ca
            else None,
        )
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=settings.temporal_api_key,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the case search attributes that a self-hosted cluster lacks."""
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            key.name: kinds[key.indexed_value_type.name]
            for key in ALL_KEYS
            if key.name not in known.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as err:
        # A managed cluster (Temporal Cloud), where the namespace owner registers them.
        log.info("search attributes not checked: %s", err.message)


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


# The cyclic garbage collector's thresholds for a worker: a young collection every
# 20,000 net allocations rather than 700, an older one after 20 of those rather than 10.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the worker's hot path.

    A worker's heap is mostly long-lived: the modules it imported (about 200,000 objects)
    and the cached workflows. With CPython's defaults a full collection walked all of it
    every few seconds under load (0.66 s each with 440,000 objects, stalling every
    workflow task meanwhile) and collections took about 0.5 ms of CPU per case update.
    What was imported at start is frozen (never collected), and collections run less
    often; cyclic garbage is still collected, a little later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def pin_time_zone_data() -> None:
    """Read zones from the pinned `tzdata` package, not the host's files, so every worker
    computes the same deadlines and replays agree across machines."""
    zoneinfo.reset_tzpath([])


async def main() -> None:
    pin_time_zone_data()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    settings.check_for_production()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, engine, settings.temporal_task_queue, executor, settings)
        tune_gc()
        log.info(
            "worker polling %s on %s",
            settings.temporal_task_queue,
            client.service_client.config.target_host,
        )
        await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
