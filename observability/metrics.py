"""The API's and the mail gateway's metrics, with prometheus-client: mail, quota
refusals, idempotent replays, and the read model's open cases and failing projections
(read at each scrape). The names are `observability.catalog`'s."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from api.errors import Unauthenticated
from observability.catalog import (
    BREACHES_TODAY,
    IDEMPOTENT_REPLAYS,
    MAIL_PROCESSED,
    MAIL_RECEIVED,
    OPEN_BREACHED,
    OPEN_CASES,
    PROJECTION_FAILING,
    QUOTA_REFUSALS,
    Metric,
)

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from sqlalchemy import Engine


def _counter(metric: Metric) -> Counter:
    # prometheus-client adds `_total` to a counter's name itself.
    return Counter(metric.name.removesuffix("_total"), metric.help, metric.labels)


mail_received = _counter(MAIL_RECEIVED)
mail_processed = _counter(MAIL_PROCESSED)
quota_refusals = _counter(QUOTA_REFUSALS)
idempotent_replays = _counter(IDEMPOTENT_REPLAYS)


class ReadModelCollector(Collector):
    """Open cases and failing projections, read from the read model at each scrape
    (two indexed queries): right whichever process changed them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlalchemy import Integer, func
        from sqlmodel import Session, col, select

        from db.read_model import CaseEventRecord, CaseRecord, ProjectionFailure
        from models.case import FINAL

        open_cases = GaugeMetricFamily(OPEN_CASES.name, OPEN_CASES.help, labels=OPEN_CASES.labels)
        breached = GaugeMetricFamily(
            OPEN_BREACHED.name, OPEN_BREACHED.help, labels=OPEN_BREACHED.labels
        )
        failing = GaugeMetricFamily(PROJECTION_FAILING.name, PROJECTION_FAILING.help)
        today = GaugeMetricFamily(BREACHES_TODAY.name, BREACHES_TODAY.help)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with Session(self._engine) as session:
            rows = session.exec(
                select(
                    CaseRecord.tier,
                    CaseRecord.severity,
                    func.count(),
                    func.sum(func.cast(col(CaseRecord.breached), Integer())),
                )
                .where(col(CaseRecord.status).not_in([status.value for status in FINAL]))
                .group_by(col(CaseRecord.tier), col(CaseRecord.severity))
            ).all()
            failing_count = session.exec(select(func.count()).select_from(ProjectionFailure)).one()
            breaches_today = session.exec(
                select(func.count())
                .select_from(CaseEventRecord)
                .where(col(CaseEventRecord.at) >= midnight)
                .where(col(CaseEventRecord.kind) == "clock_breached")
            ).one()
        by_tier: dict[int, int] = {}
        for tier, severity, count, breached_count in rows:
            open_cases.add_metric([str(tier), severity], count)
            by_tier[tier] = by_tier.get(tier, 0) + int(breached_count or 0)
        for tier, count in sorted(by_tier.items()):
            breached.add_metric([str(tier)], count)
        failing.add_metric([], failing_count)
        today.add_metric([], breaches_today)
        yield open_cases
        yield breached
        yield today
        yield failing


# The API's request-latency buckets, by route (the instrumentator's default has three).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def install(app: FastAPI, token: str | None = None) -> None:
    """Serve `/metrics` on the API: request counts and latencies by route template, method
    and status class (prometheus-fastapi-instrumentator; a route's template, never its
    path, so no case number becomes a label), the process's counters, and the read
    model's gauges (`ReadModelCollector`, on `app.state.engine` once the app started).
    With a `token`, only a request bearing it is answered (401 otherwise)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    from prometheus_fastapi_instrumentator import Instrumentator
    from prometheus_fastapi_instrumentator import metrics as instrumentation

    # The requests' metrics are the app's own, so two apps in one process (tests) do not
    # share them; the process's counters (mail, quota, replays) are the default registry's.
    registry = CollectorRegistry(auto_describe=True)
    instrumentator = Instrumentator(
        should_exclude_streaming_duration=True, excluded_handlers=["/metrics"], registry=registry
    )
    instrumentator.add(
        # http_requests_total{handler, method, status} and, by the same labels, the latency
        # histogram http_request_duration_seconds (a live stream's open time excluded).
        instrumentation.requests(registry=registry),
        instrumentation.latency(
            buckets=LATENCY_BUCKETS,
            should_include_status=True,
            should_exclude_streaming_duration=True,
            registry=registry,
        ),
    )
    instrumentator.instrument(app)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if token is not None and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
        ):
            raise Unauthenticated("/metrics needs the bearer token set as METRICS_TOKEN")
        read_model = CollectorRegistry(auto_describe=False)
        read_model.register(ReadModelCollector(request.app.state.engine))
        body = generate_latest(registry) + generate_latest(REGISTRY) + generate_latest(read_model)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def serve(host: str, port: int) -> WSGIServer | None:
    """Serve the process's counters on http://host:port/metrics from a thread (the mail
    gateway's); port 0: none. The server, to shut down."""
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host)
    return server
