"""Tierline's connection to Temporal, shared by the worker, the API and the audit tools:
the client, the workflows and their runners, the time-zone data every process that
computes deadlines reads, and the garbage collector's settings of the long-running ones.
Imported by `worker.py` (the entry point), `api.app` and `audit`."""

from __future__ import annotations

import gc
import logging
import zoneinfo

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, TLSConfig
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from observability import tracing
from observability.catalog import WORKER_BUCKETS
from settings import Settings
from workflows.case import CaseWorkflow
from workflows.notice import NoticeWorkflow
from workflows.quota import QuotaWorkflow
from workflows.release import ReleaseWorkflow
from workflows.search_attributes import ALL_KEYS

log = logging.getLogger("tierline.temporal")

WORKFLOWS = [CaseWorkflow, QuotaWorkflow, ReleaseWorkflow, NoticeWorkflow]


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with pure modules passed through so zone objects stay real tzinfos.

    The test suite and the audit replay gate run every workflow in it: a call that
    could replay differently (the clock, randomness, I/O) in workflow code fails there.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "models", "policies", "observability", "zoneinfo", "pydantic", "email_validator"
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflow_runner(settings: Settings | None = None) -> WorkflowRunner:
    """The runner a worker uses: the sandbox if `WORKFLOW_SANDBOX` asks for it, else
    workflows run on the worker's own modules. Both produce the same commands, so a
    history recorded under one replays under the other."""
    settings = settings or Settings()
    return sandboxed_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def metrics_runtime(host: str | None, port: int) -> Runtime:
    """A Temporal runtime that serves Prometheus metrics at http://host:port/metrics (none
    for port 0): the SDK's own (workflow task and activity latencies, schedule to start,
    sticky cache, pollers, failures) and whatever workflows and activities record through
    the SDK's meter (`observability.case_metrics`). Durations in seconds, as Prometheus
    names them. The SDK core's own log lines (written in Rust, to stdout by default) go
    through Python's logging as `temporalio.core`, so LOG_FORMAT applies to them too."""
    metrics = None
    if port:
        metrics = PrometheusConfig(
            bind_address=f"{host}:{port}",
            durations_as_seconds=True,
            histogram_bucket_overrides={k: list(v) for k, v in WORKER_BUCKETS.items()},
        )
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=metrics,
        )
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client for the configured cluster (or the embedded dev server); a worker made
    from it records its metrics in `runtime` (default: the SDK's, which serves none)."""
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
        runtime=runtime,
        interceptors=tracing.client_interceptors(settings),
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


def pin_time_zone_data() -> None:
    """Read zones from the pinned `tzdata` package, not the host's files, so every worker
    computes the same deadlines and replays agree across machines."""
    zoneinfo.reset_tzpath([])


# The cyclic garbage collector's thresholds for a worker or an API process: a young
# collection every 20,000 net allocations rather than 700, an older one after 20 of
# those rather than 10.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off a long-running process's hot path.

    A worker's heap is mostly long-lived: the modules it imported (about 200,000 objects)
    and the cached workflows. With CPython's defaults a full collection walked all of it
    every few seconds under load (0.66 s each with 440,000 objects, stalling every
    workflow task meanwhile) and collections took about 0.5 ms of CPU per case update.
    What was imported at start is frozen (never collected), and collections run less
    often; cyclic garbage is still collected, a little later. The API process had the
    same stalls: a full collection of about 170 ms every few hundred page renders, seen
    as the slowest request of every bench variant."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
