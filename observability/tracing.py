"""OpenTelemetry traces: one trace follows a request from the API through the Temporal
client into the workflow task and its activities.

Off unless OTLP_ENDPOINT is set: then nothing is instrumented and no interceptor is added.
Tests and benchmarks turn it on from code with `use_exporter` and off with `turn_off`.
The module keeps its own provider and hands it to the instrumentation explicitly, since
OpenTelemetry lets a process set its global provider only once.
"""

from __future__ import annotations

import random
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import SamplingResult
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.util.types import Attributes
    from starlette.types import ASGIApp, Receive, Scope, Send

# Probes and scrapes, matched against the request's URL (scheme://host/path, no query).
EXCLUDED_URLS = "/metrics$,/health$,/ready$"

_provider: TracerProvider | None = None
_sample_ratio = 1.0
_instrumented: weakref.WeakSet[FastAPI] = weakref.WeakSet()
# Set while a request the API chose to trace runs: its root span is then recorded.
_chosen: ContextVar[bool] = ContextVar("tierline_trace_chosen", default=False)


def configure(settings: Settings, service: str) -> None:
    """Export this process's spans over OTLP/HTTP when `settings.otlp_endpoint` is set;
    `service` names the process. Later calls change nothing."""
    global _provider, _sample_ratio
    if settings.otlp_endpoint is None or _provider is not None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = _new_provider(service, settings.trace_sample_ratio)
    _sample_ratio = settings.trace_sample_ratio
    endpoint = f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    # Global too, for any other instrumentation in the process; set only here, because
    # OpenTelemetry refuses to replace it.
    trace.set_tracer_provider(provider)
    _provider = provider


def use_exporter(
    exporter: SpanExporter, service: str, sample_ratio: float = 1.0, batch: bool = False
) -> TracerProvider:
    """Trace this process into `exporter` (tests, benchmarks), each span as it ends, or in
    batches from a thread as `configure` exports, in place of any earlier provider, until
    `turn_off`."""
    global _provider, _sample_ratio
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    turn_off()
    provider = _new_provider(service, sample_ratio)
    _sample_ratio = sample_ratio
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    )
    _provider = provider
    return provider


def turn_off() -> None:
    """Stop tracing: apps instrumented so far no longer are, and the provider is flushed
    and shut down. Clients connected meanwhile keep an interceptor whose spans go nowhere."""
    global _provider
    if _instrumented:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        for app in list(_instrumented):
            FastAPIInstrumentor.uninstrument_app(app)
        _instrumented.clear()
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def enabled() -> bool:
    return _provider is not None


def instrument_app(app: FastAPI, settings: Settings) -> None:
    """Trace the API's requests (not probes and scrapes) when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=EXCLUDED_URLS,
        # A span per ASGI message of every request body and response says nothing more.
        exclude_spans=["receive", "send"],
        server_request_hook=_redact_link_tokens,
    )
    _instrumented.add(app)
    if _sample_ratio < 1.0:
        _sample_before_instrumenting(app, _sample_ratio)


# The attributes the instrumentation sets from a request's URL, query included.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def _redact_link_tokens(span: Any, scope: dict[str, Any]) -> None:
    """The instrumentation's hook at a request's span start: a one-time link's token in
    the query (/console/welcome?token=...) is redacted from every attribute the URL set,
    as the log lines redact it (`observability.logs.redact`): whoever reads the traces
    could otherwise use an unused link."""
    if b"token=" not in scope.get("query_string", b"") or not span.is_recording():
        return
    from observability.logs import redact  # logs imports this module

    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, redact(value))


def _sample_before_instrumenting(app: FastAPI, ratio: float) -> None:
    """Decide a request's sample before the instrumentation sees it: the instrumentation's
    middleware does most of its work (attributes, the span's life) for a request that is
    not recorded too, so one left out skips it, under an unsampled context that its
    Temporal calls (and through their headers, the workflow) follow."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    traced_build = app.build_middleware_stack

    def build() -> ASGIApp:
        stack = traced_build()
        # ServerErrorMiddleware(OpenTelemetryMiddleware(the app's own stack)), as the
        # instrumentation builds it; any other shape is traced whole.
        otel = getattr(stack, "app", None)
        if not isinstance(otel, OpenTelemetryMiddleware):
            return stack
        return HeadSampled(stack, otel.app, ratio)

    app.build_middleware_stack = build  # type: ignore[method-assign]


class HeadSampled:
    """ASGI: a request that brings no `traceparent` goes through the traced stack with the
    probability `ratio` (and is then recorded), else through the same stack without the
    instrumentation; one that brings a `traceparent` is traced as its caller decided."""

    def __init__(self, traced: ASGIApp, plain: ASGIApp, ratio: float) -> None:
        self._traced, self._plain, self._ratio = traced, plain, ratio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(k == b"traceparent" for k, _ in scope["headers"]):
            await self._traced(scope, receive, send)
        elif random.random() < self._ratio:
            chosen = _chosen.set(True)
            try:
                await self._traced(scope, receive, send)
            finally:
                _chosen.reset(chosen)
        else:
            from opentelemetry import context
            from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

            unsampled = SpanContext(
                trace_id=random.getrandbits(128) or 1,
                span_id=random.getrandbits(64) or 1,
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.DEFAULT),
            )
            token = context.attach(trace.set_span_in_context(NonRecordingSpan(unsampled)))
            try:
                await self._plain(scope, receive, send)
            finally:
                context.detach(token)


def client_interceptors(settings: Settings) -> list[Any]:
    """The Temporal client's interceptors when tracing is on: spans for its calls and, in a
    worker made from the client, for workflow tasks and activities."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer(__name__))]


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside a trace."""
    if _provider is None:
        return None
    context = trace.get_current_span().get_span_context()
    # An id only for a trace that is recorded, so that it can be looked up.
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return trace.format_trace_id(context.trace_id)


def _new_provider(service: str, sample_ratio: float) -> TracerProvider:
    """A provider that records the share `sample_ratio` of the traces that start here
    (by trace id, so every process keeps or drops the same ones) and follows the caller's
    decision for a trace that comes with one (a `traceparent`, a workflow's header)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )

    class ChosenOrRatio(Sampler):
        """A root span is recorded when the API chose its request (`HeadSampled`), else
        by its trace id."""

        def __init__(self) -> None:
            self._ratio = TraceIdRatioBased(sample_ratio)

        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Attributes = None,
            links: Sequence[Link] | None = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if _chosen.get():
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
            return self._ratio.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"ChosenOrRatio{{{sample_ratio}}}"

    return TracerProvider(
        resource=Resource.create({SERVICE_NAME: service}),
        sampler=ParentBased(ChosenOrRatio()),
    )
