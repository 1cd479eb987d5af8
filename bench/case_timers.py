"""Benchmark: SLA breaches of many open cases on one worker, against bare durable timers.

Run with `.venv/bin/python bench/case_timers.py` (10,000 cases; `--cases 500` for a
quick run). Each side gets a fresh embedded dev server (SQLite file in WAL mode, the
flags `tierline run` uses) and one worker in its own process, and both sides run at
once (`--no-together`: one after the other):

- tierline: `worker.py` itself, with a SQLite read model in a temporary directory,
  and cases of the bench catalog (`bench/catalogs/bench.yaml`: 24x7, SLAs of 30 s to
  5 min, so every clock warns and breaches during the run);
- peer_raw_timer: a workflow that only `workflow.sleep`s until the same due instants
  (the case's deadlines, replayed offline with `models.transitions`), on the same
  workflow runner and worker defaults, with no activity and no read model.

Both sides open cases the way the API does, update-with-start on `opened`, so a case
counts as open once a worker has acknowledged it (for Tierline: once it is projected),
`--rate` cases a second with at most `--concurrency` opens in flight. Breach lateness
is `at - due_at` of every `clock_breached` row of the read-model timeline, where `at` is
`workflow.now()` of the workflow task that fired the timer; the peer reports
`workflow.now() - due` the same way for the breach instants. A sample of histories
splits lateness into setting the timer, the server firing it, and a worker picking up
the task that follows.
Peak RSS is VmHWM of the worker process. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio import workflow

# No resolve(): the sandbox, which re-imports this file, forbids it; __file__ is absolute.
SCRIPT = Path(__file__)
ROOT = SCRIPT.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# This file is also the peer worker's workflow module, which the sandbox re-imports.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel
    from sqlalchemy import Integer, literal_column, select
    from temporalio.api.enums.v1 import EventType, TaskQueueKind
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from db.read_model import CaseEventRecord, create_schema, make_engine
    from models import transitions
    from models.case import Actor, CaseDetails, CaseRouting, Contact, OpenCase, Role
    from policies.loading import load_catalog
    from policies.plan_snapshot import PlanSnapshot
    from policies.resolution import resolve_plan
    from runtime import workflow_runner
    from settings import embedded_sqlite_flags
    from workflows.case import CaseStart, CaseWorkflow
    from workflows.search_attributes import dev_server_flags

CATALOG = SCRIPT.parent / "catalogs" / "bench.yaml"
PLAN = "timers"
SEVERITIES = ("critical", "high", "normal", "low")
TARGETS = {"breach_lateness_p99_s": 2.0, "worker_peak_rss_mib": 1024}
PEER_ID = "bench-timer-{}"
# Arrivals that one worker and the dev server serve on 2 cores with room to spare, both
# sides at once: each case asks for about 9 workflow tasks in the 5 minutes after it
# opens. At 8 a second, alone, the Tierline side fell behind after about 3,000 cases and
# breaches came 10 to 30 s late; its dev server was the busy process (1 to 1.5 cores).
ARRIVALS_PER_S = 4.0
# Room for every case that still has a clock running (arrivals x 5 minutes) and more: a
# case's clocks can sit idle for two minutes between events. A case whose clocks have all
# breached waits for an agent and may leave the cache.
CACHED_CASES = 2500
POLL_SECONDS = 0.5
PROGRESS_SECONDS = 30.0
MIB = 1024 * 1024


# --------------------------------------------------------------------------- the peer


class TimerPlan(BaseModel):
    """The instants one case waits for, in seconds after its first workflow task."""

    offsets: list[float]
    breach: list[bool]


class TimerLateness(BaseModel):
    """How late the peer woke for each breach instant, in seconds."""

    breach_lateness: list[float]


@workflow.defn
class BareTimerWorkflow:
    """The peer: a durable timer per due instant and nothing else.

    Updates: `opened` (answers at once, so opening waits for a worker as a case does).
    """

    @workflow.run
    async def run(self, plan: TimerPlan) -> TimerLateness:
        start = workflow.now()
        late: list[float] = []
        for offset, breach in zip(plan.offsets, plan.breach, strict=True):
            due = start + timedelta(seconds=offset)
            delay = (due - workflow.now()).total_seconds()
            if delay > 0:
                await workflow.sleep(delay)
            if breach:
                late.append((workflow.now() - due).total_seconds())
        return TimerLateness(breach_lateness=late)

    @workflow.update
    async def opened(self) -> None:
        return None


async def serve_peer_worker(address: str, task_queue: str) -> None:
    """Tierline's runner (the environment's `WORKFLOW_SANDBOX`, as `worker.py` reads it)
    and the worker defaults `build_worker` keeps.

    In the sandbox, a workflow's module runs afresh for every workflow loaded (a new one,
    or one evicted from the cache). This file is a benchmark harness, several times the
    size of a bare timer's module, so it is passed through instead: the peer pays the
    sandbox, not this harness.
    """
    from bench.case_timers import BareTimerWorkflow as Peer  # under its module name

    runner = workflow_runner()
    if isinstance(runner, SandboxedWorkflowRunner):
        runner = SandboxedWorkflowRunner(
            restrictions=runner.restrictions.with_passthrough_modules(Peer.__module__)
        )
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Peer],
        workflow_runner=runner,
        max_cached_workflows=int(os.environ.get("WORKER_MAX_CACHED_WORKFLOWS", "1000")),
    )
    print(f"worker polling {task_queue}", file=sys.stderr, flush=True)
    await worker.run()


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_mib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mib = int(line.split()[1]) // 1024
    temporal_cli = subprocess.run(
        [str(temporal_binary()), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "memory": f"{memory_mib} MiB" if memory_mib else "unknown",
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": temporal_cli,
    }


def temporal_binary() -> Path:
    return Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a live process, in KiB."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                values[name] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        # The fields after the command name, which may itself hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (not idle, not waiting on I/O)."""
    with contextlib.suppress(OSError, ValueError):
        ticks = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return 0.0


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- processes


class Child:
    """A child process in its own session, its output in a log file."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if not self.alive():
                raise SystemExit(f"{self.name} exited early:\n{self.tail()}")
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not log {text!r} within {timeout:.0f} s")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


def start_server(workdir: Path) -> tuple[Child, str]:
    port = free_port()
    command = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--db-filename",
        str(workdir / "temporal.db"),
        *embedded_sqlite_flags(),
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    server = Child("dev server", command, workdir / "server.log", dict(os.environ))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not server.alive():
            raise SystemExit(f"the dev server exited:\n{server.tail()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"127.0.0.1:{port}"
        time.sleep(0.2)
    server.stop()
    raise SystemExit("the dev server did not listen within 60 s")


@contextlib.contextmanager
def stack(side: str, worker_command: list[str], extra_env: dict[str, str]) -> Iterator[Stack]:
    """A fresh dev server and one worker process; both stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        workdir = Path(tmp)
        server, address = start_server(workdir)
        worker: Child | None = None
        try:
            task_queue = f"bench-{side}"
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TEMPORAL_ADDRESS": address,
                # A cluster address: the worker and the API refuse the default secret.
                "WEBHOOK_SECRET": "bench",
                # Metrics served as under `make run`, on ports no other run holds.
                "WORKER_METRICS_PORT": str(free_port()),
                "MAIL_METRICS_PORT": str(free_port()),
                "TEMPORAL_TASK_QUEUE": task_queue,
                **extra_env,
            }
            command = [arg.format(address=address, task_queue=task_queue) for arg in worker_command]
            worker = Child(f"{side} worker", command, workdir / "worker.log", env)
            worker.wait_for_log("worker polling", timeout=60)
            yield Stack(workdir, address, task_queue, server, worker)
        finally:
            if worker is not None:
                worker.stop()
            server.stop()


@dataclass
class Stack:
    workdir: Path
    address: str
    task_queue: str
    server: Child
    worker: Child

    def snapshot(self) -> CpuSnapshot:
        return CpuSnapshot(
            at=time.monotonic(),
            worker=cpu_seconds(self.worker.pid),
            server=cpu_seconds(self.server.pid),
            bench=sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
            machine=machine_busy_seconds(),
        )

    def memory(self) -> dict[str, Any]:
        """Peak and current memory of the worker and the server; call while both live."""
        worker, server = proc_status(self.worker.pid), proc_status(self.server.pid)
        return {
            "worker_peak_rss_mib": rounded(worker.get("VmHWM", 0) / 1024, 1),
            "worker_rss_at_end_mib": rounded(worker.get("VmRSS", 0) / 1024, 1),
            "server_peak_rss_mib": rounded(server.get("VmHWM", 0) / 1024, 1),
        }


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by each process, and by the whole machine."""

    at: float
    worker: float
    server: float
    bench: float
    machine: float

    def cores_until(self, later: CpuSnapshot) -> dict[str, float | None]:
        """Average cores each used between two snapshots; `others` is everything else
        on the machine (another benchmark or test run skews ours)."""
        wall = later.at - self.at
        if wall <= 0:
            return {}
        used = {
            "worker": later.worker - self.worker,
            "server": later.server - self.server,
            "bench": later.bench - self.bench,
        }
        used["others"] = max(0.0, later.machine - self.machine - sum(used.values()))
        return {name: rounded(seconds / wall, 2) for name, seconds in used.items()}


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Schedule:
    """What one case of a severity waits for, replayed from the pure transitions."""

    offsets: list[float]
    breach: list[bool]

    @property
    def breaches(self) -> int:
        return sum(self.breach)


def case_command(number: int, plan: PlanSnapshot) -> OpenCase:
    return OpenCase(
        number=number,
        details=CaseDetails(
            organisation="bench",
            company_name="Bench Ltd",
            contact=Contact(name="Bea Bench", email="bea@bench.example"),
            title=f"Benchmark case {number}",
            details="Opened by bench/case_timers.py; nobody answers, so every clock breaches.",
            severity=SEVERITIES[number % len(SEVERITIES)],
        ),
        plan=plan,
        # No recipients: the bench measures timers and projection, not SMTP.
        routing=CaseRouting(),
        opened_by=Actor(id="bea@bench.example", role=Role.customer),
    )


def schedule_for(command: OpenCase) -> Schedule:
    """Every deadline the case workflow waits for, if nobody acts on the case."""
    opened = datetime.now(UTC)
    state, _ = transitions.open_case(command, opened)
    offsets, breach = [], []
    while (deadline := transitions.next_deadline(state)) is not None:
        state, facts = transitions.tick(state, deadline)
        offsets.append((deadline - opened).total_seconds())
        breach.append(any(fact.kind == "clock_breached" for fact in facts))
    return Schedule(offsets, breach)


@dataclass(frozen=True)
class Workload:
    """The bench plan, frozen once, and the schedule of each severity."""

    plan: PlanSnapshot
    schedules: dict[str, Schedule]

    @classmethod
    def load(cls) -> Workload:
        plan = resolve_plan(load_catalog(CATALOG), PLAN, datetime.now(UTC))
        schedules = {
            severity: schedule_for(case_command(number, plan))
            for number, severity in enumerate(SEVERITIES, start=len(SEVERITIES))
        }
        return cls(plan, schedules)

    def schedule(self, number: int) -> Schedule:
        return self.schedules[SEVERITIES[number % len(SEVERITIES)]]

    def breaches(self, numbers: range) -> int:
        return sum(self.schedule(number).breaches for number in numbers)

    @property
    def longest(self) -> float:
        return max(schedule.offsets[-1] for schedule in self.schedules.values())


@dataclass
class Opening:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    finished_at: float = 0.0  # monotonic

    @property
    def opened(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float | None:
        return self.opened / self.seconds if self.seconds else None


async def open_all(
    numbers: range,
    concurrency: int,
    open_one: Callable[[int], Awaitable[None]],
    opening: Opening,
    rate: float = 0.0,
) -> Opening:
    """Open every case with at most `concurrency` opens in flight and, if `rate` is set,
    the i-th case no earlier than i / rate seconds after the first."""
    pending = iter(enumerate(numbers))
    first = time.monotonic()

    async def opener() -> None:
        for index, number in pending:
            if rate > 0:
                await asyncio.sleep(max(0.0, first + index / rate - time.monotonic()))
            began = time.monotonic()
            try:
                await open_one(number)
            except Exception as err:
                # The client turns a cancelled call into an error of its own: stop anyway.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                opening.errors[f"{type(err).__name__}: {err}"[:200]] += 1
            else:
                opening.latencies.append(time.monotonic() - began)

    await asyncio.gather(*(opener() for _ in range(concurrency)))
    opening.finished_at = time.monotonic()
    opening.seconds = opening.finished_at - first
    return opening


def opening_summary(opening: Opening) -> dict[str, Any]:
    return {
        "opened": opening.opened,
        "open_errors": sum(opening.errors.values()),
        "opened_per_s": rounded(opening.per_second, 1),
        "open_latency_p50_s": rounded(percentile(opening.latencies, 0.50)),
        "open_latency_p99_s": rounded(percentile(opening.latencies, 0.99)),
    }


# --------------------------------------------------------------------------- histories


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.ToNanoseconds() / 1e9


def timer_breakdown(histories: list[list[HistoryEvent]]) -> dict[str, Any]:
    """Where a fired timer's lateness goes, over every timer in sampled histories.

    set: from the start of the workflow task that computed the delay to the server
    recording the timer (the delay is counted from the task's start, so this adds up);
    fire: from the timer's due instant to the server firing it; pickup: from firing to
    a worker starting the workflow task that reacts (that task's start is `workflow.now()`).
    Also how often that task found the workflow out of the worker's cache, and how many
    workflow tasks timed out or failed in the sampled histories.
    """
    set_delay, fire_delay, pickup_delay = [], [], []
    replayed = timed_out = failed = 0
    for events in histories:
        by_id = {event.event_id: event for event in events}
        for index, event in enumerate(events):
            if event.event_type != EventType.EVENT_TYPE_TIMER_FIRED:
                continue
            started = by_id[event.timer_fired_event_attributes.started_event_id]
            attributes = started.timer_started_event_attributes
            timeout = attributes.start_to_fire_timeout.ToNanoseconds() / 1e9
            completed = by_id[attributes.workflow_task_completed_event_id]
            task_start = by_id[completed.workflow_task_completed_event_attributes.started_event_id]
            set_delay.append(_seconds(started) - _seconds(task_start))
            fire_delay.append(_seconds(event) - _seconds(started) - timeout)
            pickup = next(
                (
                    later
                    for later in events[index + 1 :]
                    if later.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                ),
                None,
            )
            if pickup is not None:
                pickup_delay.append(_seconds(pickup) - _seconds(event))
                scheduled = by_id[pickup.workflow_task_started_event_attributes.scheduled_event_id]
                queue = scheduled.workflow_task_scheduled_event_attributes.task_queue
                replayed += queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        kinds = Counter(event.event_type for event in events)
        timed_out += kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
        failed += kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    return {
        "timers": len(fire_delay),
        # The task after the timer went to the normal queue, not the worker's sticky
        # one: the workflow had left the worker's cache, so its whole history replayed.
        "replayed_share": rounded(replayed / len(pickup_delay), 2) if pickup_delay else None,
        "task_timeouts": timed_out,
        "task_failures": failed,
        **{
            f"{name}_p{int(share * 100)}_s": rounded(percentile(values, share))
            for name, values in (("set", set_delay), ("fire", fire_delay), ("pickup", pickup_delay))
            for share in (0.5, 0.99)
        },
    }


async def sample_histories(client: Client, ids: list[str]) -> list[list[HistoryEvent]]:
    histories = []
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        histories.append(list(history.events))
    return histories


def sample_ids(count: int, size: int, name: Callable[[int], str]) -> list[str]:
    step = max(1, count // max(size, 1))
    return [name(number) for number in range(1, count + 1, step)][:size]


# --------------------------------------------------------------------------- tierline


@dataclass
class Breaches:
    lateness: list[float] = field(default_factory=list)
    visible_lateness: list[float] = field(default_factory=list)
    last_rowid: int = 0


def read_breaches(engine: Any, breaches: Breaches) -> None:
    """Take the timeline rows added since the last read; note when breaches became visible."""
    seen = time.time()
    rowid = literal_column("rowid", Integer)
    query = (
        select(rowid, CaseEventRecord.kind, CaseEventRecord.at, CaseEventRecord.data)  # type: ignore[call-overload]
        .where(rowid > breaches.last_rowid)
        .order_by(rowid)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    for row_id, kind, at, data in rows:
        breaches.last_rowid = max(breaches.last_rowid, row_id)
        if kind != "clock_breached":
            continue
        due = datetime.fromisoformat(data["due_at"])
        # SQLite keeps the UTC instant without its zone.
        recorded = at if at.tzinfo else at.replace(tzinfo=UTC)
        breaches.lateness.append((recorded - due).total_seconds())
        breaches.visible_lateness.append(seen - due.timestamp())


async def run_tierline(args: argparse.Namespace) -> dict[str, Any]:
    work = Workload.load()
    numbers = range(1, args.cases + 1)
    expected = work.breaches(numbers)
    with tempfile.TemporaryDirectory(prefix="bench-read-model-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'tierline.db'}"
        engine = make_engine(url)
        create_schema(engine)
        env = {
            "DATABASE_URL": url,
            "VAR_DIR": tmp,
            "WORKER_MAX_CACHED_WORKFLOWS": str(args.max_cached),
        }
        with stack("tierline", [sys.executable, "worker.py"], env) as running:
            client = await Client.connect(running.address, data_converter=pydantic_data_converter)

            async def open_case(number: int) -> None:
                start = WithStartWorkflowOperation(
                    CaseWorkflow.run,
                    CaseStart(open=case_command(number, work.plan)),
                    id=f"case-{number}",
                    task_queue=running.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                await client.execute_update_with_start_workflow(
                    CaseWorkflow.opened, start_workflow_operation=start
                )

            first = running.snapshot()
            breaches = Breaches()
            opening = Opening()
            polling = asyncio.create_task(poll_breaches(engine, breaches, expected))
            ticker = progress(
                "tierline",
                lambda: (
                    f"{opening.opened} opened, {len(breaches.lateness)} of {expected} "
                    f"breaches, p50 lateness so far {rounded(percentile(breaches.lateness, 0.5))} s"
                ),
            )
            await open_all(numbers, args.concurrency, open_case, opening, args.rate)
            opened = running.snapshot()
            deadline = opening.finished_at + work.longest + args.drain_timeout
            await wait_until(lambda: polling.done(), deadline)
            polling.cancel()
            ticker.cancel()
            read_breaches(engine, breaches)  # the rows of the last half second
            last = running.snapshot()
            memory = running.memory()
            histories = await sample_histories(
                client, sample_ids(opening.opened, args.sample, lambda n: f"case-{n}")
            )
            alive = running.worker.alive()
            worker_tail = "" if alive else running.worker.tail()
        engine.dispose()
    return {
        **opening_summary(opening),
        "breach_lateness_p50_s": rounded(percentile(breaches.lateness, 0.50)),
        "breach_lateness_p99_s": rounded(percentile(breaches.lateness, 0.99)),
        "breach_lateness_max_s": rounded(max(breaches.lateness, default=None)),
        "breach_visible_lateness_p50_s": rounded(percentile(breaches.visible_lateness, 0.50)),
        "breach_visible_lateness_p99_s": rounded(percentile(breaches.visible_lateness, 0.99)),
        "breaches": len(breaches.lateness),
        "breaches_expected": expected,
        **memory,
        "worker_cpu_ms_per_open": rounded(
            (opened.worker - first.worker) * 1000 / max(opening.opened, 1), 1
        ),
        "worker_cpu_ms_per_case": rounded(
            (last.worker - first.worker) * 1000 / max(opening.opened, 1), 1
        ),
        "cpu_cores_opening": first.cores_until(opened),
        "cpu_cores_after_opening": opened.cores_until(last),
        "seconds_after_opening": rounded(last.at - opened.at, 1),
        "timer_breakdown": timer_breakdown(histories),
        "_errors": dict(opening.errors.most_common(3)),
        "_worker_tail": worker_tail,
    }


async def poll_breaches(engine: Any, breaches: Breaches, expected: int) -> None:
    while len(breaches.lateness) < expected:
        await asyncio.sleep(POLL_SECONDS)
        await asyncio.to_thread(read_breaches, engine, breaches)


def progress(side: str, status: Callable[[], str]) -> asyncio.Task[None]:
    """Say how a long run is going, on stderr, so stdout ends with the JSON line."""

    async def tick() -> None:
        began = time.monotonic()
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            print(f"[{side} {time.monotonic() - began:.0f} s] {status()}", file=sys.stderr)

    return asyncio.create_task(tick())


async def wait_until(done: Callable[[], bool], deadline: float) -> bool:
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


# --------------------------------------------------------------------------- the peer run


async def run_peer(args: argparse.Namespace) -> dict[str, Any]:
    work = Workload.load()
    numbers = range(1, args.cases + 1)
    command = [
        sys.executable,
        str(SCRIPT),
        "--peer-worker",
        "--address",
        "{address}",
        "--task-queue",
        "{task_queue}",
    ]
    with stack("peer", command, {"WORKER_MAX_CACHED_WORKFLOWS": str(args.max_cached)}) as running:
        client = await Client.connect(running.address, data_converter=pydantic_data_converter)

        async def open_timer(number: int) -> None:
            due = work.schedule(number)
            start = WithStartWorkflowOperation(
                BareTimerWorkflow.run,
                TimerPlan(offsets=due.offsets, breach=due.breach),
                id=PEER_ID.format(number),
                task_queue=running.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            await client.execute_update_with_start_workflow(
                BareTimerWorkflow.opened, start_workflow_operation=start
            )

        first = running.snapshot()
        opening = Opening()
        closed = 0
        ticker = progress("peer", lambda: f"{opening.opened} opened, {closed} finished")
        await open_all(numbers, args.concurrency, open_timer, opening, args.rate)
        opened = running.snapshot()
        query = "WorkflowType = 'BareTimerWorkflow' AND ExecutionStatus != 'Running'"
        deadline = opening.finished_at + work.longest + args.drain_timeout
        while time.monotonic() < deadline:
            closed = (await client.count_workflows(query)).count
            if closed >= opening.opened:
                break
            await asyncio.sleep(POLL_SECONDS)
        ticker.cancel()
        last = running.snapshot()
        memory = running.memory()
        lateness: list[float] = []
        semaphore = asyncio.Semaphore(args.concurrency)

        async def collect(number: int) -> None:
            async with semaphore:
                handle = client.get_workflow_handle_for(
                    BareTimerWorkflow.run, PEER_ID.format(number)
                )
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        lateness.extend((await handle.result()).breach_lateness)

        await asyncio.gather(*(collect(number) for number in numbers))
        histories = await sample_histories(
            client, sample_ids(opening.opened, args.sample, PEER_ID.format)
        )
    return {
        **opening_summary(opening),
        "lateness_p50_s": rounded(percentile(lateness, 0.50)),
        "lateness_p99_s": rounded(percentile(lateness, 0.99)),
        "lateness_max_s": rounded(max(lateness, default=None)),
        "timers_measured": len(lateness),
        "timers_expected": work.breaches(numbers),
        **memory,
        "worker_cpu_ms_per_open": rounded(
            (opened.worker - first.worker) * 1000 / max(opening.opened, 1), 1
        ),
        "worker_cpu_ms_per_case": rounded(
            (last.worker - first.worker) * 1000 / max(opening.opened, 1), 1
        ),
        "cpu_cores_opening": first.cores_until(opened),
        "cpu_cores_after_opening": opened.cores_until(last),
        "seconds_after_opening": rounded(last.at - opened.at, 1),
        "timer_breakdown": timer_breakdown(histories),
        "_errors": dict(opening.errors.most_common(3)),
    }


# --------------------------------------------------------------------------- report


def report(args: argparse.Namespace, ours: dict[str, Any], peer: dict[str, Any] | None) -> None:
    host = machine()
    print(f"machine: {host['cpu']}, {host['cpu_count']} CPUs, {host['memory']}")
    print(f"  {host['platform']}, Python {host['python']}, temporalio {host['temporalio']}")
    print(f"  {host['temporal_cli']}")
    print(
        f"{args.cases} cases, {args.rate or 'unpaced'} arrivals/s, "
        f"{args.concurrency} opens in flight, {args.max_cached} cached, bench catalog "
        f"{CATALOG.relative_to(ROOT)} (plan {PLAN}, severities {', '.join(SEVERITIES)})"
    )
    print("lateness: at - due_at, `at` being workflow.now() of the task that fired the timer")
    sides = [("tierline", ours)] + ([("peer_raw_timer", peer)] if peer else [])
    for name, side in sides:
        p50 = side.get("breach_lateness_p50_s", side.get("lateness_p50_s"))
        p99 = side.get("breach_lateness_p99_s", side.get("lateness_p99_s"))
        top = side.get("breach_lateness_max_s", side.get("lateness_max_s"))
        got = side.get("breaches", side.get("timers_measured"))
        wanted = side.get("breaches_expected", side.get("timers_expected"))
        print(f"\n{name}:")
        print(
            f"  opened {side['opened']} at {side['opened_per_s']}/s "
            f"(open p50 {side['open_latency_p50_s']} s, p99 {side['open_latency_p99_s']} s, "
            f"{side['open_errors']} errors)"
        )
        print(f"  breach lateness p50 {p50} s, p99 {p99} s, max {top} s ({got} of {wanted})")
        if "breach_visible_lateness_p50_s" in side:
            print(
                f"  seen in the read model p50 {side['breach_visible_lateness_p50_s']} s, "
                f"p99 {side['breach_visible_lateness_p99_s']} s (polled every {POLL_SECONDS} s)"
            )
        print(
            f"  worker peak RSS {side['worker_peak_rss_mib']} MiB, "
            f"server peak RSS {side['server_peak_rss_mib']} MiB"
        )
        print(
            f"  CPU cores while opening {side['cpu_cores_opening']}, "
            f"worker {side['worker_cpu_ms_per_open']} ms CPU a case"
        )
        print(
            f"  worker CPU over a case's life (opening and every timer) "
            f"{side['worker_cpu_ms_per_case']} ms"
        )
        print(
            f"  CPU cores in the {side['seconds_after_opening']} s after "
            f"{side['cpu_cores_after_opening']}"
        )
        b = side["timer_breakdown"]
        print(
            f"  sampled histories: {b['replayed_share']} of timer tasks replayed the history "
            f"(not cached), {b['task_timeouts']} task timeouts, {b['task_failures']} failures"
        )
        print(
            f"  {b['timers']} sampled timers: set p50 {b['set_p50_s']} / p99 {b['set_p99_s']} s, "
            f"fire p50 {b['fire_p50_s']} / p99 {b['fire_p99_s']} s, "
            f"pickup p50 {b['pickup_p50_s']} / p99 {b['pickup_p99_s']} s"
        )
        for error, count in side["_errors"].items():
            print(f"  {count} x {error}")
        if side.get("_worker_tail"):
            print("  the worker died:\n" + side["_worker_tail"])
    met = {
        "breach_lateness_p99_s": ours["breach_lateness_p99_s"] is not None
        and ours["breach_lateness_p99_s"] < TARGETS["breach_lateness_p99_s"],
        "worker_peak_rss_mib": ours["worker_peak_rss_mib"] < TARGETS["worker_peak_rss_mib"],
        "all_breaches_recorded": ours["breaches"] == ours["breaches_expected"],
    }
    print(f"\ntargets {TARGETS}: met {met}")

    def public(side: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in side.items() if not key.startswith("_")}

    print(
        json.dumps(
            {
                "machine": host,
                "cases": args.cases,
                "concurrency": args.concurrency,
                "arrivals_per_s": args.rate or None,
                "sides_together": bool(args.peer and args.together),
                "max_cached_workflows": args.max_cached,
                "lateness": "at - due_at; at = workflow.now() of the task that fired the timer",
                "tierline": public(ours),
                "peer_raw_timer": public(peer) if peer else None,
                "targets": TARGETS,
                "met": met,
            }
        )
    )


async def main(args: argparse.Namespace) -> None:
    peer: dict[str, Any] | None
    if args.peer and args.together:
        ours, peer = await asyncio.gather(run_tierline(args), run_peer(args))
    else:
        ours = await run_tierline(args)
        peer = await run_peer(args) if args.peer else None
    report(args, ours, peer)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per side")
    parser.add_argument("--concurrency", type=int, default=64, help="opens in flight")
    parser.add_argument(
        "--rate",
        type=float,
        default=ARRIVALS_PER_S,
        help="cases opened per second on both sides (0: as fast as they open)",
    )
    parser.add_argument(
        "--peer", action=argparse.BooleanOptionalAction, default=True, help="run the peer too"
    )
    parser.add_argument(
        "--together",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run both sides at once, each on its own server and worker (paced arrivals "
        "leave room for both; it halves the run and both meet the same machine)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait past the last due instant for late breaches",
    )
    parser.add_argument("--sample", type=int, default=100, help="histories sampled per side")
    parser.add_argument(
        "--max-cached",
        type=int,
        default=CACHED_CASES,
        help="max_cached_workflows of both sides' workers (the SDK's default: 1000)",
    )
    parser.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.peer_worker:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_peer_worker(arguments.address, arguments.task_queue))
    else:
        # `kill` stops the bench like Ctrl-C does, so it stops its server and worker.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        asyncio.run(main(arguments))
