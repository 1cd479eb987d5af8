"""Traces: with tracing on, one trace follows a case opened over real HTTP from the API's
request through the Temporal client into the workflow and its activities on a real dev
server, and problem documents name their trace; off (the default), nothing is traced."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_trace_id
from sqlalchemy import Engine
from temporalio.client import Client

from api import errors
from api.app import create_app
from observability import tracing
from policies.loading import CATALOG_DIR
from runtime import connect
from settings import Settings
from tests.api.conftest import ACME, USERS
from tests.builders import CATALOG_DIR as TEST_CATALOGS
from tests.builders import case_body
from tests.conftest import free_port, running, serve
from worker import build_worker

ANN = next(user for user in USERS if user["id"] == "ann")


@dataclass
class Traced:
    ann: httpx.AsyncClient
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def exporter(request: pytest.FixtureRequest) -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, into memory (every trace, or the share the test asks for
    by parametrizing this fixture); off again afterwards for every other test."""
    collected = InMemorySpanExporter()
    tracing.use_exporter(collected, "tierline-test", sample_ratio=getattr(request, "param", 1.0))
    yield collected
    tracing.turn_off()


@pytest.fixture
async def traced(
    request: pytest.FixtureRequest,
    exporter: InMemorySpanExporter,
    dev_client: Client,
    sqlite_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
) -> AsyncIterator[Traced]:
    """The API and a worker with tracing on from the start: the client they share is
    connected with the tracing interceptor (the dev_client fixture's has none)."""
    catalog_dir = tmp_path / "catalogs"
    catalog_dir.mkdir()
    for source in [*CATALOG_DIR.glob("*.yaml"), TEST_CATALOGS / "short-sla.yaml"]:
        shutil.copy(source, catalog_dir / source.name)
    port = free_port()
    settings = Settings(
        public_url=f"http://127.0.0.1:{port}",
        catalog_dir=catalog_dir,
        var_dir=tmp_path / "var",
        temporal_address=dev_client.service_client.config.target_host,
        temporal_namespace=dev_client.namespace,
        temporal_task_queue=task_queue,
        database_url=str(sqlite_engine.url),
        webhook_secret="trace-tests",
        workflow_sandbox=getattr(request, "param", "sandboxed") == "sandboxed",
    )
    client = await connect(settings)
    worker = build_worker(client, sqlite_engine, task_queue, activity_executor, settings)
    async with running(worker):
        server, task, base_url = await serve(create_app(settings), port)
        admin_token = (settings.var_dir / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {admin_token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as admin:
            assert (await admin.post("/organisations", json=ACME)).status_code == 201
            assert (await admin.post("/users", json=ANN)).status_code == 201
            token = (await admin.post("/users/ann/tokens", json={})).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as ann:
            yield Traced(ann, exporter)
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


async def spans_until(traced: Traced, *wanted: str, seconds: float = 10) -> list[ReadableSpan]:
    """The spans finished once every name in `wanted` is among them (activities may end
    after the response)."""
    async with asyncio.timeout(seconds):
        while not set(wanted) <= {s.name for s in traced.spans()}:  # noqa: ASYNC110 (worker threads)
            await asyncio.sleep(0.05)
    return traced.spans()


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format_trace_id(span.context.trace_id)


@pytest.mark.parametrize("traced", ["sandboxed", "unsandboxed"], indirect=True)
async def test_one_trace_follows_a_case_from_the_api_into_workflow_and_activity(
    traced: Traced,
) -> None:
    opened = await traced.ann.post("/cases", json=case_body())
    assert opened.status_code == 201, opened.text

    spans = await spans_until(
        traced,
        "POST /cases",
        "StartUpdateWithStartWorkflow:CaseWorkflow",
        "RunWorkflow:CaseWorkflow",
        "HandleUpdate:opened",
        "RunActivity:project_case_local",
    )
    (server,) = [s for s in spans if s.name == "POST /cases" and s.kind == SpanKind.SERVER]
    in_trace = [s for s in spans if trace_of(s) == trace_of(server)]
    names = {s.name for s in in_trace}
    assert {
        "StartUpdateWithStartWorkflow:QuotaWorkflow",
        "StartUpdateWithStartWorkflow:CaseWorkflow",
        "RunWorkflow:CaseWorkflow",
        "HandleUpdate:opened",
        "StartActivity:project_case_local",
        "RunActivity:project_case_local",
    } <= names, sorted(names)
    # Everything of the request hangs below its server span, in one tree.
    by_id = {s.context.span_id: s for s in in_trace if s.context is not None}
    for span in in_trace:
        top = span
        while top.parent is not None and top.parent.span_id in by_id:
            top = by_id[top.parent.span_id]
        assert top is server, f"{span.name} is not below the request's span"
    assert server.resource.attributes["service.name"] == "tierline-test"


async def test_an_actions_workflow_spans_link_to_the_actions_trace(traced: Traced) -> None:
    """The SDK keeps a workflow's spans in the trace that started it: the handling of a
    later action sits there, linked to the action's own trace (README, Traces)."""
    opened = await traced.ann.post("/cases", json=case_body())
    number = opened.json()["number"]
    replied = await traced.ann.post(f"/cases/{number}/reply", json={"message": "Any news?"})
    assert replied.status_code == 200, replied.text
    route = "POST /cases/{number}/reply"
    spans = await spans_until(traced, "POST /cases", route, "HandleUpdate:customer_reply")
    (opening,) = [s for s in spans if s.name == "POST /cases" and s.kind == SpanKind.SERVER]
    (action,) = [s for s in spans if s.name == route and s.kind == SpanKind.SERVER]
    (handled,) = [s for s in spans if s.name == "HandleUpdate:customer_reply"]
    assert trace_of(handled) == trace_of(opening) != trace_of(action)
    assert [format_trace_id(link.context.trace_id) for link in handled.links] == [trace_of(action)]


async def test_a_traced_problem_names_its_trace(traced: Traced) -> None:
    for method, path, body, status, span_name in (
        ("GET", "/cases/987654", None, 404, "GET /cases/{number}"),
        ("POST", "/cases", {"title": ""}, 422, "POST /cases"),
    ):
        response = await traced.ann.request(method, path, json=body)
        assert response.status_code == status, response.text
        # The server span ends just after the response has gone.
        (server,) = [s for s in await spans_until(traced, span_name) if s.name == span_name]
        assert response.json()["trace_id"] == trace_of(server)


async def test_an_unexpected_error_keeps_its_correlation_id_and_names_its_trace(
    exporter: InMemorySpanExporter,
) -> None:
    app = FastAPI()
    errors.install(app)
    tracing.instrument_app(app, Settings())

    @app.get("/fails")
    async def fails() -> None:
        raise ZeroDivisionError("division by zero")

    # The server error middleware answers, then raises again for the server to log.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        response = await http.get("/fails")
    assert response.status_code == 500
    problem = response.json()
    assert response.headers["X-Correlation-Id"] == problem["correlation_id"]
    (server,) = exporter.get_finished_spans()
    assert (server.name, server.status.status_code) == ("GET /fails", StatusCode.ERROR)
    assert problem["trace_id"] == trace_of(server)


async def test_probes_and_scrapes_are_not_traced(traced: Traced) -> None:
    assert (await traced.ann.get("/health")).status_code == 200
    assert (await traced.ann.get("/metrics")).status_code == 200
    assert (await traced.ann.get("/cases/987654")).status_code == 404
    spans = await spans_until(traced, "GET /cases/{number}")
    assert not [s.name for s in spans if "/health" in s.name or "/metrics" in s.name]


async def test_off_by_default_nothing_is_traced_and_problems_name_no_trace(
    tmp_path: Path,
) -> None:
    # Turned on and off again, as a test before this one may have: nothing stays behind.
    leftover = InMemorySpanExporter()
    tracing.use_exporter(leftover, "tierline-test")
    tracing.turn_off()

    settings = Settings(var_dir=tmp_path / "var")
    assert settings.otlp_endpoint is None
    tracing.configure(settings, "tierline-api")
    app = create_app(settings)
    assert not tracing.enabled()
    assert tracing.client_interceptors(settings) == []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        response = await http.get("/no-such-page")
    assert response.status_code == 404
    assert "trace_id" not in response.json()
    assert tracing.current_trace_id() is None
    assert leftover.get_finished_spans() == ()


def test_with_an_endpoint_spans_are_exported_over_otlp_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    # The process's global provider can be set only once: this test's is only recorded.
    made_global: list[object] = []
    monkeypatch.setattr(otel_trace, "set_tracer_provider", made_global.append)
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}/"
        tracing.configure(Settings(otlp_endpoint=endpoint), "tierline-worker")
        tracing.configure(Settings(otlp_endpoint=endpoint), "tierline-again")
        assert tracing.enabled() and len(made_global) == 1
        (interceptor,) = tracing.client_interceptors(Settings())
        with interceptor.tracer.start_as_current_span("exported"):
            trace_id = tracing.current_trace_id()
        assert trace_id is not None and len(trace_id) == 32
        tracing.turn_off()  # flushes the batch
    finally:
        tracing.turn_off()
        collector.shutdown()
        collector.server_close()
    ((path, content_type, body),) = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"exported" in body and b"tierline-worker" in body


@pytest.mark.parametrize("exporter", [0.0], indirect=True)
async def test_an_unsampled_trace_records_nothing_but_a_sampled_caller_is_followed(
    traced: Traced,
) -> None:
    """TRACE_SAMPLE_RATIO 0: a request of our own is neither recorded nor named in its
    problem; a caller's sampled traceparent is followed, and its trace id named."""
    unsampled = await traced.ann.get("/cases/987654")
    assert unsampled.status_code == 404
    assert "trace_id" not in unsampled.json()
    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    sampled = await traced.ann.get(
        "/cases/987655", headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"}
    )
    assert sampled.status_code == 404
    assert sampled.json()["trace_id"] == caller
    spans = await spans_until(traced, "GET /cases/{number}")
    assert {trace_of(span) for span in spans} == {caller}


@pytest.mark.parametrize("exporter", [0.5], indirect=True)
async def test_the_api_decides_a_requests_sample_before_the_instrumentation(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TRACE_SAMPLE_RATIO 0.5: a request drawn in is recorded whole (its trace id aside);
    one drawn out never enters the instrumentation, records nothing below, names no trace."""
    traced.exporter.clear()  # the fixture's own requests, drawn by chance
    monkeypatch.setattr(tracing.random, "random", lambda: 0.51)
    left_out = await traced.ann.post("/cases", json={"title": ""})
    assert left_out.status_code == 422 and "trace_id" not in left_out.json()
    opened_out = await traced.ann.post("/cases", json=case_body())
    assert opened_out.status_code == 201, opened_out.text
    assert traced.spans() == []

    monkeypatch.setattr(tracing.random, "random", lambda: 0.49)
    drawn_in = await traced.ann.post("/cases", json={"title": ""})
    assert drawn_in.status_code == 422
    (server,) = [s for s in await spans_until(traced, "POST /cases") if s.name == "POST /cases"]
    assert drawn_in.json()["trace_id"] == trace_of(server)
    # Nothing of the case opened unsampled was recorded meanwhile, in the worker either.
    assert {trace_of(span) for span in traced.spans()} == {trace_of(server)}


async def test_a_links_token_stays_out_of_its_requests_span(
    exporter: InMemorySpanExporter,
) -> None:
    """An invitation's or reset's one-time token rides in the page's query: the span keeps
    the page and the other parameters, never the token (README, The console)."""
    app = FastAPI()
    errors.install(app)
    tracing.instrument_app(app, Settings())

    @app.get("/console/welcome")
    async def welcome() -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        secret = "k3ep-th1s-0ut-of-traces"
        response = await http.get(f"/console/welcome?lang=en&token={secret}&x=1")
    assert response.status_code == 200
    (server,) = exporter.get_finished_spans()
    values = [str(value) for value in (server.attributes or {}).values()]
    assert not [value for value in values if secret in value]
    assert [value for value in values if "token=[redacted]" in value and "x=1" in value]
