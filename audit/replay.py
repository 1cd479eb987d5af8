"""Replay verdicts: does a case's recorded history still replay on the current workflow code?

Every run of a case (oldest first, across continue-as-new) replays on its own against the
workflows the worker registers, with the worker's data converter and sandbox. A case is
intact when every run replays; otherwise the verdict names the first diverging event
(run, history event id, event type) and the SDK's nondeterminism message. A replay that
fails for another reason (an unknown workflow type, a broken history) is an error.

Where the histories come from (the API, Temporal, files) is the caller's business.
Bulk replay feeds every run of every case through one replay worker, which is what makes
it fast: the SDK's per-history `replay_workflow` starts and stops a worker each time.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer, WorkflowReplayResult
from temporalio.workflow import NondeterminismError

from runtime import WORKFLOWS, sandboxed_runner

CaseHistories = tuple[int, Sequence[WorkflowHistory]]
ProgressCallback = Callable[[int, "Verdict"], None]

# Core names the event it could not match as `HistoryEvent(id: 5, TimerStarted)`.
_HISTORY_EVENT = re.compile(r"HistoryEvent\(id: (\d+)(?:, (\w+))?")
# The failure message inside the activation-completion debug text core hands back.
_FAILURE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


class Status(StrEnum):
    intact = "intact"
    diverged = "diverged"
    error = "error"


class DivergingEvent(BaseModel):
    """Where a replay first went another way than the recorded history."""

    run_id: str
    event_id: int | None
    """None when the SDK's message names no event (e.g. an activity type mismatch)."""
    event_type: str | None
    """The recorded event's type (`EVENT_TYPE_...`), read from the history itself."""
    reason: str
    """The SDK's nondeterminism message."""

    @property
    def where(self) -> str:
        if self.event_id is None:
            return f"run {self.run_id}, event not named by the SDK"
        return f"run {self.run_id}, event {self.event_id} ({self.event_type or 'not in history'})"


class Verdict(BaseModel):
    """One case's replay: intact, the first diverging event, or why replay failed."""

    status: Status
    workflow_id: str | None
    runs: int
    """Runs handed in."""
    runs_replayed: int
    """Runs replayed: none after the first that diverges or fails."""
    events_replayed: int
    """Events of the replayed runs; a diverging run counts whole."""
    diverging_event: DivergingEvent | None = None
    """Set when diverged."""
    error: str | None = None
    """Set on error: why the runs could not be replayed, or what failed in which run."""

    @property
    def intact(self) -> bool:
        return self.status is Status.intact


class ReplaySummary(BaseModel):
    """A bulk replay: counts, each case's verdict, and how long it took."""

    cases: int
    intact: int
    diverged: int
    errors: int
    runs: int
    events: int
    seconds: float
    verdicts: dict[int, Verdict]

    @property
    def ok(self) -> bool:
        return self.diverged == 0 and self.errors == 0

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@cache
def _quiet_runtime() -> Runtime:
    # Core logs every failed replay task as a warning; the verdict already carries it.
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


def build_replayer(workflows: Sequence[type] | None = None) -> Replayer:
    """A replayer with the worker's converter, in the sandbox: a history replays to the
    same commands with or without it, and a forbidden call in workflow code fails here."""
    return Replayer(
        workflows=list(workflows or WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=sandboxed_runner(),
        runtime=_quiet_runtime(),
    )


def diverging_event(history: WorkflowHistory, failure: BaseException) -> DivergingEvent:
    """The event the SDK's nondeterminism message names, looked up in the history."""
    text = str(failure)
    found = _FAILURE_MESSAGE.search(text)
    reason = found.group(1).replace('\\"', '"') if found else text
    named = _HISTORY_EVENT.search(reason)
    event_id = int(named.group(1)) if named else None
    event_type: str | None = None
    if event_id is not None:
        recorded = [event for event in history.events if event.event_id == event_id]
        if recorded:
            event_type = EventType.Name(recorded[0].event_type)
    return DivergingEvent(
        run_id=history.run_id, event_id=event_id, event_type=event_type, reason=reason
    )


def _chain_break(earlier: WorkflowHistory, later: WorkflowHistory) -> str | None:
    """Why `later` is not the run `earlier` continued as, if the histories say so."""
    last = earlier.events[-1] if earlier.events else None
    if last is None or last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return f"run {earlier.run_id} did not continue as new, yet run {later.run_id} follows it"
    expected = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    if expected and expected != later.run_id:
        return f"run {earlier.run_id} continued as {expected}, not as {later.run_id}"
    return None


@dataclass
class _CaseReplay:
    """The runs of one case on their way through the replayer."""

    number: int
    runs: list[WorkflowHistory]
    replayed: int = 0
    events: int = 0
    verdict: Verdict | None = None
    _results: list[WorkflowReplayResult] = field(default_factory=list)

    def precheck(self) -> Verdict | None:
        if not self.runs:
            return self._finish(Status.error, error="no runs to replay")
        for position, run in enumerate(self.runs, start=1):
            if not run.events:
                return self._finish(Status.error, error=f"run {position} has no events")
        for earlier, later in zip(self.runs, self.runs[1:], strict=False):
            if broken := _chain_break(earlier, later):
                return self._finish(Status.error, error=f"runs out of order: {broken}")
        return None

    def record(self, result: WorkflowReplayResult) -> Verdict | None:
        self.replayed += 1
        self.events += len(result.history.events)
        failure = result.replay_failure
        if isinstance(failure, NondeterminismError):
            return self._finish(Status.diverged, diverging=diverging_event(result.history, failure))
        if failure is not None:
            return self._finish(Status.error, error=f"run {result.history.run_id}: {failure}")
        if self.replayed == len(self.runs):
            return self._finish(Status.intact)
        return None

    def _finish(
        self,
        status: Status,
        diverging: DivergingEvent | None = None,
        error: str | None = None,
    ) -> Verdict:
        self.verdict = Verdict(
            status=status,
            workflow_id=self.runs[0].workflow_id if self.runs else None,
            runs=len(self.runs),
            runs_replayed=self.replayed,
            events_replayed=self.events,
            diverging_event=diverging,
            error=error,
        )
        return self.verdict


async def _each(
    cases: AsyncIterable[CaseHistories] | Iterable[CaseHistories],
) -> AsyncIterator[CaseHistories]:
    if isinstance(cases, AsyncIterable):
        async for case in cases:
            yield case
    else:
        for case in cases:
            yield case


async def replay_cases(
    cases: AsyncIterable[CaseHistories] | Iterable[CaseHistories],
    *,
    on_progress: ProgressCallback | None = None,
    workflows: Sequence[type] | None = None,
) -> ReplaySummary:
    """Replay many cases, each given as (case number, its runs oldest first), in one replayer.

    `on_progress(number, verdict)` is called once per case, as its verdict is known.
    A case's later runs are not replayed once one diverges or fails: the verdict names
    the first diverging event. `workflows` replaces the worker's workflows (for testing
    the gate against changed code).
    """
    started = time.perf_counter()
    verdicts: dict[int, Verdict] = {}
    in_flight: deque[tuple[_CaseReplay, WorkflowHistory]] = deque()

    def decided(case: _CaseReplay, verdict: Verdict) -> None:
        verdicts[case.number] = verdict
        if on_progress is not None:
            on_progress(case.number, verdict)

    async def runs() -> AsyncIterator[WorkflowHistory]:
        async for number, histories in _each(cases):
            case = _CaseReplay(number, list(histories))
            if verdict := case.precheck():
                decided(case, verdict)
                continue
            for history in case.runs:
                in_flight.append((case, history))
                yield history  # resumed only once its result has been recorded
                if case.verdict is not None:
                    break

    async with build_replayer(workflows).workflow_replay_iterator(runs()) as results:
        async for result in results:
            case, history = in_flight.popleft()
            assert result.history is history
            if verdict := case.record(result):
                decided(case, verdict)

    counted = list(verdicts.values())
    return ReplaySummary(
        cases=len(counted),
        intact=sum(verdict.status is Status.intact for verdict in counted),
        diverged=sum(verdict.status is Status.diverged for verdict in counted),
        errors=sum(verdict.status is Status.error for verdict in counted),
        runs=sum(verdict.runs_replayed for verdict in counted),
        events=sum(verdict.events_replayed for verdict in counted),
        seconds=time.perf_counter() - started,
        verdicts=verdicts,
    )


async def replay_case(
    histories: Sequence[WorkflowHistory], *, workflows: Sequence[type] | None = None
) -> Verdict:
    """Replay one case's runs, oldest first, against the current workflow code."""
    summary = await replay_cases([(0, histories)], workflows=workflows)
    return summary.verdicts[0]


def render_summary(summary: ReplaySummary, *, show_intact: bool = False) -> Table:
    """A table of the cases that did not replay (every case with `show_intact`), and totals."""
    table = Table(
        title="Replay against the current workflow code",
        caption=(
            f"{summary.cases} cases: {summary.intact} intact, {summary.diverged} diverged, "
            f"{summary.errors} errors; {summary.runs} runs, {summary.events} events "
            f"in {summary.seconds:.1f} s ({summary.runs_per_second:.0f} runs/s, "
            f"{summary.events_per_second:.0f} events/s)"
        ),
    )
    table.add_column("case", justify="right")
    table.add_column("verdict")
    table.add_column("runs", justify="right")
    table.add_column("events", justify="right")
    table.add_column("first diverging event")
    table.add_column("reason", overflow="fold")
    style = {Status.intact: "green", Status.diverged: "red", Status.error: "yellow"}
    for number in sorted(summary.verdicts):
        verdict = summary.verdicts[number]
        if verdict.intact and not show_intact:
            continue
        event = verdict.diverging_event
        table.add_row(
            str(number),
            # Text, never markup: an SDK reason may well contain [brackets].
            Text(verdict.status.value, style=style[verdict.status]),
            f"{verdict.runs_replayed}/{verdict.runs}",
            str(verdict.events_replayed),
            Text(event.where if event else ""),
            Text(event.reason if event else (verdict.error or "")),
        )
    table.add_section()
    table.add_row(
        "all",
        Text("intact", style="green") if summary.ok else Text("not intact", style="red"),
        str(summary.runs),
        str(summary.events),
        "",
        "",
    )
    return table
