"""Tierline's API and worker with tracing on into memory, for `bench/api.py --observability`.

`uvicorn --factory bench.observed:traced_api` serves the API and `python -m bench.observed`
runs the worker, each tracing into an in-memory exporter (`observability.tracing.
use_exporter`) before the app is made or the client connects, as tracing must be. As in
production (`observability.tracing.configure`), spans go through a `BatchSpanProcessor`,
exported from its thread, and only the share `TRACE_SAMPLE_RATIO` (the setting
`trace_sample_ratio`) of the traces is recorded. The exporter keeps the last spans only,
so memory stays bounded however long the run, and counts every span by name; on SIGUSR1
it flushes the processor and writes the counts to the file `BENCH_SPANS_FILE` names, so
the bench can show that tracing was on and how many spans an action made.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability import tracing
from settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

SPANS_FILE = "BENCH_SPANS_FILE"
KEPT_SPANS = 1_000


class CountingExporter(InMemorySpanExporter):
    """The SDK's in-memory exporter, keeping the last `KEPT_SPANS`, that counts what it
    was given by span name."""

    def __init__(self) -> None:
        super().__init__(max_spans=KEPT_SPANS)
        self._counts: Counter[str] = Counter()
        self._counting = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._counting:
            self._counts.update(span.name for span in spans)
        return super().export(spans)

    def counts(self) -> Counter[str]:
        with self._counting:
            return self._counts.copy()


def write_counts_when_asked(
    exporter: CountingExporter, provider: TracerProvider, path: Path
) -> None:
    """On SIGUSR1, flush the spans still queued for export and write the counts to `path`
    from a thread of their own: nothing runs between requests, and the handler, which may
    interrupt an export holding the counts' lock, only wakes the thread."""
    asked = threading.Event()

    def write() -> None:
        while asked.wait():
            asked.clear()
            # The batch processor exports every few seconds: counts without the spans
            # still queued would fall short of what the round made.
            provider.force_flush()
            counts = exporter.counts()
            temporary = path.with_suffix(".tmp")
            by_name = dict(counts.most_common())
            temporary.write_text(json.dumps({"spans": counts.total(), "by_name": by_name}))
            temporary.replace(path)  # the bench never reads half a file

    threading.Thread(target=write, name="span-counts", daemon=True).start()
    signal.signal(signal.SIGUSR1, lambda _signal, _frame: asked.set())


def trace_into_memory(service: str) -> CountingExporter:
    """Trace this process into a `CountingExporter` in batches, sampling as the settings
    say; its counts written to the file that `BENCH_SPANS_FILE` names on SIGUSR1. Call
    from the main thread."""
    exporter = CountingExporter()
    ratio = get_settings().trace_sample_ratio
    provider = tracing.use_exporter(exporter, service, sample_ratio=ratio, batch=True)
    if target := os.environ.get(SPANS_FILE):
        write_counts_when_asked(exporter, provider, Path(target))
    return exporter


def traced_api() -> FastAPI:
    """The API app, traced (uvicorn's `--factory`)."""
    trace_into_memory("tierline-api")
    from api.app import create_app

    return create_app()


if __name__ == "__main__":
    import asyncio
    import contextlib

    trace_into_memory("tierline-worker")
    import worker

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker.main())
