"""Benchmark: the API over real HTTP, side by side with raw Temporal calls, in one run.

Run with `.venv/bin/python bench/api.py` (`--quick` for a short run). It starts a fresh
embedded dev server (SQLite file in WAL mode, the flags `tierline run` uses), then three
processes beside it: the Tierline worker (`worker.py`), the API (`uvicorn api.app:app`,
SQLite read model in a temporary directory) and a peer worker that runs this module's
trivial workflows on the same runner (`WORKFLOW_SANDBOX`, as `worker.py` reads it).
Three measurements:

- opening: cases opened per second through `POST /cases` (which answers once the case is
  in the read model; the bench checks the row right after each answer, and reads every
  case back with `GET /cases/{number}` afterwards), against update-with-start of a peer
  workflow with one no-op activity whose update answers once the activity completed,
  with `--concurrency` opens in flight on both sides;
- actions: the round trip of an agent action (`POST /cases/{n}/notes`, answered with the
  case's new state) from `--clients` clients, each on a case of its own, against a raw
  update of a trivial workflow (one per client) that only counts; and, to tell the API's
  share from the workflow's, the same note as an update sent straight to as many other
  cases;
- lists: `--list-rows` synthetic cases are bulk-inserted into the read model (a spread
  of organisations, statuses, tiers, severities, assignees and due instants, each with a
  full case view), then `GET /cases` with typical filters and `GET /queues/{tier}` are
  timed from one client, one request at a time.

Opening and actions alternate sides in `--rounds` rounds, so that neither side gets an
emptier server. Progress goes to stderr; the machine's load and CPU pressure at start
and end are reported, since other work on the machine skews every number. The last
line printed is one JSON object.

With `--observability` the bench measures what metrics and tracing cost instead (no peer,
no lists): two Tierline stacks, each a worker and an API with a read model of its own,
run side by side on one dev server, each in a namespace of its own (case numbers, hence
workflow IDs, start at 1 in both). `off` runs without worker metrics
(`WORKER_METRICS_PORT=0`) and without tracing; `on` serves the worker's metrics on a free
port, traces the worker and the API into memory (`bench/observed.py`: in batches from a
thread, as production exports, recording the share `--sample-ratio` of the traces, passed
as `TRACE_SAMPLE_RATIO`) and has both metrics endpoints read every `--scrape-interval`
seconds of its measured time, as Prometheus would (`--observe metrics` or `tracing` turns
on one of the two only). The API's request metrics are on in both: `api.app` always
instruments its routes. Opening (`POST /cases`) and actions (`POST /cases/{n}/notes`,
`--clients` clients on cases of their own) alternate the sides round by round, the first
side changing each round, after a warm-up. Both stacks stay up the whole run rather than
being stopped and started in turn: an idle stack costs next to nothing (its CPU during the
other side's rounds is reported, `other_side_idle`), both sides meet the same server at
the same age in the same conditions, and neither pays for a cold start. The report gives
each side's rates, latencies and CPU per request by process, the overhead of `on` against
`off` (the action rate's against the goal of under 5 %), and the spans the on side made.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

# No Path.resolve(): the workflow sandbox, which runs this file again, forbids it
# (`__file__` of a script is absolute anyway).
ROOT = Path(__file__).parents[1]
# Run as a script, this directory comes first on the path and this file would shadow
# the `api` package: the project root takes its place.
sys.path[:] = [entry for entry in sys.path if entry != str(ROOT / "bench")]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# This file is also the peer worker's workflow module, which the sandbox re-imports.
with workflow.unsafe.imports_passed_through():
    import aiohttp
    import httpx
    from sqlalchemy import insert
    from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from bench.observed import KEPT_SPANS, SPANS_FILE
    from db.read_model import CaseRecord, make_engine
    from models.case import Actor, Role, case_workflow_id
    from models.commands import AddInternalNote
    from runtime import tune_gc, workflow_runner
    from settings import embedded_sqlite_flags
    from workflows.case import execute_command
    from workflows.search_attributes import dev_server_flags

SCRIPT = Path(__file__)
PLAN = "us-software-002:enterprise"  # 24x7, no incident quota
SEVERITIES = ("high", "medium", "low")
TARGETS = {"open_rate_ratio_min": 0.7, "action_p99_ratio_max": 2.0, "list_p99_ms_max": 50.0}
ORGANISATION = "bench"
AGENT = "bench-agent"
FIRST_SYNTHETIC = 10_000_000  # far above the numbers the bench's own cases get
MIB = 1024 * 1024


# --------------------------------------------------------------------------- the peer


@activity.defn
async def noop() -> None:
    """The peer's one activity: nothing to do."""


@workflow.defn
class OneActivityWorkflow:
    """The opening peer: one activity, then done.

    Updates: `opened` answers once the activity completed (as a case's answers once it
    is projected).
    """

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
        self._done = True
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.update
    async def opened(self) -> None:
        await workflow.wait_condition(lambda: self._done)


@workflow.defn
class CounterWorkflow:
    """The action peer: a trivial workflow that counts updates.

    Updates: `bump` returns the new count. Signals: `finish` ends the run.
    """

    def __init__(self) -> None:
        self._count = 0
        self._finished = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._count

    @workflow.update
    def bump(self) -> int:
        self._count += 1
        return self._count

    @workflow.signal
    def finish(self) -> None:
        self._finished = True


async def serve_peer_worker(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[OneActivityWorkflow, CounterWorkflow],
        activities=[noop],
        workflow_runner=workflow_runner(),
    )
    tune_gc()  # the collector settings worker.py and the API run with
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
        "memory": f"{memory_mib} MiB" if memory_mib else "unknown",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": temporal_cli,
        "fastapi": metadata.version("fastapi"),
        "uvicorn": metadata.version("uvicorn"),
        "aiohttp": metadata.version("aiohttp"),
    }


def cpu_pressure() -> dict[str, Any]:
    """Load average and the share of time runnable tasks waited for a CPU (Linux PSI):
    other work on the machine shows here."""
    waiting = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path("/proc/pressure/cpu").read_text().split()
        waiting = {name: float(value) for name, value in (f.split("=") for f in fields[1:4])}
    return {
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "cpu_waiting_pct": waiting,
    }


def temporal_binary() -> Path:
    return Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        # The fields after the command name, which may itself hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def peak_rss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours is not None and theirs else None


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

    def check(self) -> None:
        if not self.alive():
            raise SystemExit(f"{self.name} exited:\n{self.tail()}")

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            self.check()
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


class RunsChildren:
    """What a bench's stack does with the processes it started: fail fast if one died,
    and read their CPU (and the bench's own)."""

    children: dict[str, Child]

    def check(self) -> None:
        for child in self.children.values():
            child.check()

    def cpu(self) -> dict[str, float]:
        own = os.times()
        return {
            **{name: cpu_seconds(child.pid) for name, child in self.children.items()},
            "bench": own.user + own.system,
        }


@dataclass
class Stack(RunsChildren):
    """The dev server, the Tierline worker, the API and the peer worker."""

    workdir: Path
    address: str
    api_url: str
    peer_queue: str
    database: Path
    children: dict[str, Child]


def start_server(
    workdir: Path, dynamic_config: list[str], namespaces: Sequence[str] = ()
) -> tuple[Child, str]:
    """A dev server (with the `default` namespace and `namespaces`) and its address."""
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
        *(flag for namespace in namespaces for flag in ("--namespace", namespace)),
        *(flag for value in dynamic_config for flag in ("--dynamic-config-value", value)),
    ]
    server = Child("dev server", command, workdir / "server.log", dict(os.environ))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server.check()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"127.0.0.1:{port}"
        time.sleep(0.2)
    server.stop()
    raise SystemExit("the dev server did not listen within 60 s")


def catalogs(directory: Path) -> Path:
    """The shipped catalogs and the tests' short-SLA catalog, as the API tests load them."""
    directory.mkdir()
    for source in [*(ROOT / "policies" / "catalogs").glob("*.yaml")]:
        shutil.copy(source, directory / source.name)
    shutil.copy(ROOT / "tests" / "catalogs" / "short-sla.yaml", directory / "short-sla.yaml")
    return directory


def wait_for_health(url: str, api: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        api.check()
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as err:
            last = str(err)
        time.sleep(0.3)
    raise SystemExit(f"the API did not turn healthy within {timeout:.0f} s: {last}")


@dataclass
class Tierline:
    """A Tierline worker and API, their read model and state in `directory`."""

    directory: Path
    api_url: str
    database: Path
    env: dict[str, str]


def start_tierline(
    children: dict[str, Child],
    directory: Path,
    address: str,
    settings: dict[str, str],
    side: str = "",
    traced: bool = False,
) -> Tierline:
    """Start the worker, then the API, on the dev server at `address` with `settings` on
    top of the bench's environment; `traced`, both trace into memory (`bench.observed`).
    Each is added to `children` as it starts (`worker`, `api`, or `<side>_worker`...), so
    that the caller stops whatever started."""
    directory.mkdir(exist_ok=True)
    database = directory / "read-model.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEMPORAL_ADDRESS": address,
        # A cluster address: the worker and the API refuse the default secret.
        "WEBHOOK_SECRET": "bench",
        "DATABASE_URL": f"sqlite:///{database}",
        "VAR_DIR": str(directory / "var"),
        "CATALOG_DIR": str(catalogs(directory / "catalogs")),
    }
    # Tracing where a side asks for it, not wherever the shell exports an endpoint.
    for name in ("OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    env.update(settings)
    key, label = (f"{side}_", f"{side} ") if side else ("", "")
    worker_command = ["-m", "bench.observed"] if traced else ["worker.py"]
    worker = Child(
        f"{label}worker",
        [sys.executable, *worker_command],
        directory / "worker.log",
        {**env, SPANS_FILE: str(directory / "worker-spans.json")} if traced else env,
    )
    children[f"{key}worker"] = worker
    worker.wait_for_log("worker polling", timeout=60)
    port = free_port()
    app = ["--factory", "bench.observed:traced_api"] if traced else ["api.app:app"]
    uvicorn = [
        *(sys.executable, "-m", "uvicorn", *app),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
    ]
    api = Child(
        f"{label}api",
        uvicorn,
        directory / "api.log",
        {**env, SPANS_FILE: str(directory / "api-spans.json")} if traced else env,
    )
    children[f"{key}api"] = api
    api_url = f"http://127.0.0.1:{port}"
    wait_for_health(api_url, api, timeout=60)
    return Tierline(directory, api_url, database, env)


@contextlib.contextmanager
def stack(dynamic_config: list[str], keep: bool) -> Iterator[Stack]:
    """Every process the bench needs, stopped (newest first) on the way out."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tempfile.mkdtemp(prefix="bench-api-")) if keep else Path(tmp)
        children: dict[str, Child] = {}
        try:
            server, address = start_server(workdir, dynamic_config)
            children["server"] = server
            settings = {
                "TEMPORAL_TASK_QUEUE": "bench-tierline",
                "WORKER_METRICS_PORT": str(free_port()),
            }
            tierline = start_tierline(children, workdir, address, settings)
            peer_queue = "bench-peer"
            peer_command = [
                *(sys.executable, str(SCRIPT), "--peer-worker"),
                *("--address", address, "--task-queue", peer_queue),
            ]
            peer = Child("peer worker", peer_command, workdir / "peer.log", tierline.env)
            children["peer_worker"] = peer
            peer.wait_for_log("worker polling", timeout=60)
            yield Stack(workdir, address, tierline.api_url, peer_queue, tierline.database, children)
        finally:
            for child in reversed(children.values()):
                child.stop()


# --------------------------------------------------------------------------- load

Job = Callable[[], Awaitable[None]]


@dataclass
class Side:
    """Latencies, wall time, CPU and errors of one side of a measurement, over its rounds."""

    name: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        wall = self.seconds
        return {
            "count": len(self.latencies),
            "errors": sum(self.errors.values()),
            "per_s": round(len(self.latencies) / wall, 1) if wall else None,
            "p50_ms": ms(percentile(self.latencies, 0.50)),
            "p99_ms": ms(percentile(self.latencies, 0.99)),
            "max_ms": ms(max(self.latencies, default=None)),
            "seconds": round(wall, 2),
            "cpu_cores": {name: round(used / wall, 2) for name, used in self.cpu.items()}
            if wall
            else {},
        }


async def measure(side: Side, running: RunsChildren, lanes: list[Iterator[Job]]) -> None:
    """Run every lane's jobs, one at a time per lane and the lanes side by side."""

    async def lane(jobs: Iterator[Job]) -> None:
        for job in jobs:
            began = time.perf_counter()
            try:
                await job()
            except Exception as err:
                side.errors[f"{type(err).__name__}: {err}"[:200]] += 1
            else:
                side.latencies.append(time.perf_counter() - began)

    cpu_before = running.cpu()
    done_before = len(side.latencies)
    began = time.perf_counter()
    await asyncio.gather(*(lane(jobs) for jobs in lanes))
    elapsed = time.perf_counter() - began
    side.seconds += elapsed
    for name, used in running.cpu().items():
        side.cpu[name] = side.cpu.get(name, 0.0) + used - cpu_before[name]
    done = len(side.latencies) - done_before
    progress(f"{side.name}: {done} in {elapsed:.1f} s ({done / elapsed:.1f}/s)")
    running.check()


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Lanes = Callable[[], list[Iterator[Job]]]


async def alternate(rounds: int, running: RunsChildren, sides: list[tuple[Side, Lanes]]) -> None:
    """Each round runs every side once, in turn; the order flips from round to round, so
    that neither side always meets the server fuller than the other."""
    for number in range(rounds):
        for side, lanes in sides if number % 2 == 0 else sides[::-1]:
            await measure(side, running, lanes())


class UnexpectedResponse(Exception):
    pass


@dataclass
class Answer:
    method: str
    path: str
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """The bench's HTTP client: aiohttp, whose C parser costs the bench's own process
    about a fifth of httpx's CPU a request (0.7 against 3.6 ms a note, measured here).
    The bench shares two cores with everything it measures, so its client's CPU would
    otherwise be counted against the API. Idle connections are dropped after 2 s, before
    uvicorn's keep-alive (5 s) could close one under a request."""

    def __init__(self, base_url: str, token: str, connections: int) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=2),
        )

    async def request(self, method: str, path: str, body: Any = None) -> Answer:
        async with self._session.request(method, path, json=body) as response:
            return Answer(method, path, response.status, await response.read())

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def post(self, path: str, json: Any) -> Answer:
        return await self.request("POST", path, json)

    async def close(self) -> None:
        await self._session.close()


def expect(response: Answer, status: int) -> Any:
    if response.status_code != status:
        raise UnexpectedResponse(
            f"{response.method} {response.path} -> "
            f"{response.status_code} {response.body[:150].decode(errors='replace')}"
        )
    return response.json()


# --------------------------------------------------------------------------- setup


async def agent_token(api_url: str, var_dir: Path) -> str:
    """The bench organisation (a plan without an incident quota) and an agent's token."""
    admin_token = (var_dir / "admin-token").read_text().strip()
    admin = Http(api_url, admin_token, connections=1)
    try:
        organisation = {"id": ORGANISATION, "name": "Bench Ltd", "plan": PLAN}
        expect(await admin.post("/organisations", json=organisation), 201)
        agent = {"id": AGENT, "name": "Bench Agent", "role": "agent", "tiers": [1, 2, 3]}
        expect(await admin.post("/users", json=agent), 201)
        issued = expect(await admin.post(f"/users/{AGENT}/tokens", json={"label": "bench"}), 201)
    finally:
        await admin.close()
    token: str = issued["token"]
    return token


def case_details(index: int) -> dict[str, Any]:
    # No contact e-mails on the organisation and no support inbox: opening sends nothing.
    return {
        "organisation": ORGANISATION,
        "company_name": "Bench Ltd",
        "contact": {"name": "Bea Bench", "email": "bea@bench.example"},
        "title": f"Benchmark case {index}: export stalls",
        "details": "Opened by bench/api.py to time the API; nobody works on it.",
        "severity": SEVERITIES[index % len(SEVERITIES)],
    }


# --------------------------------------------------------------------------- opening


@dataclass
class Opening:
    tierline: Side = field(default_factory=lambda: Side("tierline POST /cases"))
    peer: Side = field(default_factory=lambda: Side("peer update-with-start"))
    numbers: list[int] = field(default_factory=list)
    missing_from_read_model: int = 0
    read_back_failures: int = 0


async def run_opening(
    args: argparse.Namespace, running: Stack, http: Http, client: Client
) -> Opening:
    """Cases through the API against update-with-start of the one-activity peer."""
    opening = Opening()
    read_model = sqlite3.connect(running.database)
    indexes = iter(range(1, 10**9))

    async def open_case(index: int) -> None:
        view = expect(await http.post("/cases", json=case_details(index)), 201)
        opening.numbers.append(view["number"])
        row = read_model.execute("SELECT 1 FROM cases WHERE number = ?", (view["number"],))
        if row.fetchone() is None:
            opening.missing_from_read_model += 1

    async def open_peer(index: int) -> None:
        # The same call the API makes for a case: update-with-start, answered by a worker.
        start = WithStartWorkflowOperation(
            OneActivityWorkflow.run,
            id=f"peer-open-{index}",
            task_queue=running.peer_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        await client.execute_update_with_start_workflow(
            OneActivityWorkflow.opened, start_workflow_operation=start
        )

    def lanes(open_one: Callable[[int], Awaitable[None]], count: int) -> Lanes:
        def make() -> list[Iterator[Job]]:
            shared = iter([partial(open_one, next(indexes)) for _ in range(count)])
            return [shared] * args.concurrency

        return make

    # Warm both sides up (imports, connections, sandbox caches); not counted.
    warm = Opening()
    await alternate(
        1,
        running,
        [
            (warm.tierline, lanes(open_case, args.concurrency * 2)),
            (warm.peer, lanes(open_peer, args.concurrency * 2)),
        ],
    )
    per_round = max(1, args.cases // args.rounds)
    await alternate(
        args.rounds,
        running,
        [
            (opening.tierline, lanes(open_case, per_round)),
            (opening.peer, lanes(open_peer, per_round)),
        ],
    )
    read_model.close()
    for side, warmed in ((opening.tierline, warm.tierline), (opening.peer, warm.peer)):
        side.errors.update(warmed.errors)

    semaphore = asyncio.Semaphore(args.concurrency)

    async def read_back(number: int) -> None:
        async with semaphore:
            response = await http.get(f"/cases/{number}")
            if response.status_code != 200 or response.json()["number"] != number:
                opening.read_back_failures += 1

    await asyncio.gather(*(read_back(number) for number in opening.numbers))
    return opening


# --------------------------------------------------------------------------- actions


@dataclass
class Actions:
    tierline: Side = field(default_factory=lambda: Side("tierline POST notes"))
    peer: Side = field(default_factory=lambda: Side("peer update"))
    # Not a target: the same note sent straight to the case workflow, without the API.
    case_update: Side = field(default_factory=lambda: Side("case update, no API"))
    stale_answers: int = 0


async def run_actions(
    args: argparse.Namespace,
    running: Stack,
    http: Http,
    client: Client,
    cases: list[int],
    direct_cases: list[int],
) -> Actions:
    """`--clients` clients, each adding notes to a case of its own, against as many
    clients each updating a trivial workflow of its own; and, to split the API's share
    from the workflow's, the note as an update sent straight to `direct_cases` (workflows
    of their own, so that no side's workflows take more updates than another's)."""
    actions = Actions()
    last_seq: dict[int, int] = {}
    counters = [
        await client.start_workflow(
            CounterWorkflow.run,
            id=f"peer-counter-{index}",
            task_queue=running.peer_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        for index in range(args.clients)
    ]

    async def add_note(number: int) -> None:
        view = expect(await http.post(f"/cases/{number}/notes", json={"note": "called back"}), 200)
        if view["seq"] <= last_seq.get(number, 0):
            actions.stale_answers += 1
        last_seq[number] = view["seq"]

    async def bump(counter: WorkflowHandle[Any, Any]) -> None:
        await counter.execute_update(CounterWorkflow.bump)

    agent = Actor(id=AGENT, role=Role.agent)

    async def add_note_directly(number: int) -> None:
        handle = client.get_workflow_handle(case_workflow_id(number))
        view = await execute_command(handle, AddInternalNote(actor=agent, note="called back"))
        if view.seq <= last_seq.get(number, 0):
            actions.stale_answers += 1
        last_seq[number] = view.seq

    def tierline(count: int) -> Lanes:
        return lambda: [iter([partial(add_note, number)] * count) for number in cases]

    def peer(count: int) -> Lanes:
        return lambda: [iter([partial(bump, counter)] * count) for counter in counters]

    def case_update(count: int) -> Lanes:
        return lambda: [
            iter([partial(add_note_directly, number)] * count) for number in direct_cases
        ]

    warm = Actions()
    sides = [
        (warm.tierline, tierline(3)),
        (warm.peer, peer(3)),
        (warm.case_update, case_update(3)),
    ]
    await alternate(1, running, sides)
    per_round = max(1, args.actions // args.rounds)
    sides = [
        (actions.tierline, tierline(per_round)),
        (actions.peer, peer(per_round)),
        (actions.case_update, case_update(per_round)),
    ]
    await alternate(args.rounds, running, sides)
    for measured, warmed in zip(
        (actions.tierline, actions.peer, actions.case_update),
        (warm.tierline, warm.peer, warm.case_update),
        strict=True,
    ):
        measured.errors.update(warmed.errors)
    for counter in counters:
        await counter.signal(CounterWorkflow.finish)
    return actions


# --------------------------------------------------------------------------- lists

COMPONENTS = (
    "export", "login", "billing", "sync", "report", "upload", "search", "dashboard", "webhook",
    "mobile", "printer", "calendar", "invoice", "backup", "sso", "email", "import", "license",
    "database", "permissions",
)  # fmt: skip
PROBLEMS = (
    "stalls", "fails", "times out", "is slow", "crashes", "shows wrong totals", "loses data",
    "rejects valid input", "hangs after update", "returns an error",
)  # fmt: skip
RARE = ("kerberos", "daylight", "unicode", "proxy", "certificate")
DETAIL_WORDS = (
    "since", "yesterday", "customer", "users", "cannot", "when", "after", "the", "latest",
    "release", "screen", "button", "every", "morning", "report", "attached", "logs", "steps",
    "reproduce", "production", "staging", "server", "browser", "version", "again", "urgent",
)  # fmt: skip
# Share of cases per status: most of a read model's cases are closed.
STATUS_SHARES = {
    "closed": 0.62,
    "closed_out_of_scope": 0.05,
    "resolved": 0.08,
    "tier1": 0.10,
    "tier2": 0.06,
    "tier3": 0.03,
    "waiting_on_customer": 0.06,
}
SEVERITY_SHARES = {"high": 0.15, "medium": 0.45, "low": 0.40}
ORGANISATIONS = [f"org-{index:03d}" for index in range(300)]
AGENTS = [f"agent-{index:02d}" for index in range(40)]


def synthetic_rows(
    count: int, template: dict[str, Any], now: datetime, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Cases as the projection writes them, spread over two years, newest numbered last."""
    # A few organisations file most cases (Zipf-like).
    weights = [1 / (rank + 1) for rank in range(len(ORGANISATIONS))]
    first_opened = now - timedelta(days=730)
    statuses, status_weights = zip(*STATUS_SHARES.items(), strict=True)
    severities, severity_weights = zip(*SEVERITY_SHARES.items(), strict=True)
    for offset in range(count):
        number = FIRST_SYNTHETIC + offset
        organisation = rng.choices(ORGANISATIONS, weights)[0]
        status = rng.choices(statuses, status_weights)[0]
        severity = rng.choices(severities, severity_weights)[0]
        is_open = status.startswith("tier") or status == "waiting_on_customer"
        tier = (
            int(status[-1]) if status.startswith("tier") else rng.choices((1, 2, 3), (6, 3, 1))[0]
        )
        # Open cases are the recent ones; closed ones are spread over the whole period.
        days_ago = rng.uniform(0, 30) if is_open else rng.uniform(0, 730)
        opened_at = max(first_opened, now - timedelta(days=days_ago))
        updated_at = min(now, opened_at + timedelta(hours=rng.uniform(0, 24 * 20)))
        next_due_at = (
            now + timedelta(hours=rng.uniform(-48, 240))
            if is_open and (status != "waiting_on_customer" or rng.random() < 0.5)
            else None
        )
        breached = rng.random() < (0.2 if is_open else 0.1)
        assignee = rng.choice(AGENTS) if status != "tier1" or rng.random() < 0.5 else None
        words = rng.choice(COMPONENTS), rng.choice(PROBLEMS)
        title = f"{words[0].capitalize()} {words[1]}"
        if rng.random() < 0.01:
            title += f" behind {rng.choice(RARE)}"
        details = " ".join(rng.choices(DETAIL_WORDS, k=rng.randint(8, 40)))
        seq = rng.randint(1, 30)
        view = {
            **template,
            "number": number,
            "case_id": f"case-{number}",
            "status": status,
            "tier": tier,
            "severity": severity,
            "assignee": assignee,
            "details": {
                **template["details"],
                "organisation": organisation,
                "company_name": organisation.upper(),
                "title": title,
                "details": details,
                "severity": severity,
            },
            "opened_at": opened_at.isoformat(),
            "updated_at": updated_at.isoformat(),
            "next_due_at": next_due_at.isoformat() if next_due_at else None,
            "breached": breached,
            "seq": seq,
        }
        yield {
            "number": number,
            "case_id": f"case-{number}",
            "organisation": organisation,
            "company_name": organisation.upper(),
            "title": title,
            "details": details,
            "severity": severity,
            "status": status,
            "tier": tier,
            "assignee": assignee,
            "breached": breached,
            "next_due_at": next_due_at,
            "opened_at": opened_at,
            "updated_at": updated_at,
            "seq": seq,
            "view": view,
        }


def bulk_insert(url: str, rows: Iterator[dict[str, Any]], chunk: int = 5_000) -> int:
    engine = make_engine(url)
    inserted = 0
    try:
        while batch := [row for _, row in zip(range(chunk), rows, strict=False)]:
            with engine.begin() as connection:
                connection.execute(insert(CaseRecord), batch)
            inserted += len(batch)
    finally:
        engine.dispose()
    return inserted


def list_queries(rng: random.Random, now: datetime) -> dict[str, Callable[[], str]]:
    """Each query type an agent's screen sends, with its parameters drawn at random."""
    busy = ORGANISATIONS[:20]

    def organisation() -> str:
        return rng.choice(busy if rng.random() < 0.7 else ORGANISATIONS)

    def word() -> str:
        return rng.choice(COMPONENTS if rng.random() < 0.8 else RARE)

    return {
        "newest": lambda: "/cases",
        "status": lambda: "/cases?status=tier1&status=tier2&status=tier3",
        "tier": lambda: f"/cases?tier={rng.randint(1, 3)}",
        "organisation": lambda: f"/cases?organisation={organisation()}",
        "text": lambda: f"/cases?q={word()}",
        "combined": lambda: (
            f"/cases?organisation={organisation()}&status=tier{rng.randint(1, 3)}"
            f"&severity={rng.choice(SEVERITIES)}"
        ),
        "due_soon": lambda: (
            "/cases?breached=false&due_before="
            + (now + timedelta(hours=rng.randint(1, 48))).strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "deep_page": lambda: f"/cases?limit=50&offset={rng.randrange(1_000, 5_000, 50)}",
        "queue": lambda: f"/queues/{rng.randint(1, 3)}",
        "queue_page": lambda: f"/queues/{rng.randint(1, 3)}?offset={rng.randrange(50, 500, 50)}",
    }


@dataclass
class Listing:
    rows: int = 0
    insert_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        every = [value for values in self.latencies.values() for value in values]
        return {
            "rows": self.rows,
            "insert_s": round(self.insert_seconds, 1),
            "p50_ms": ms(percentile(every, 0.50)),
            "p99_ms": ms(percentile(every, 0.99)),
            "errors": sum(self.errors.values()),
            "by_query": {
                name: {
                    "count": len(values),
                    "p50_ms": ms(percentile(values, 0.50)),
                    "p99_ms": ms(percentile(values, 0.99)),
                    "max_ms": ms(max(values, default=None)),
                }
                for name, values in self.latencies.items()
            },
        }


async def run_lists(
    args: argparse.Namespace, running: Stack, http: Http, template_case: int
) -> Listing:
    listing = Listing()
    rng = random.Random(20250101)
    now = datetime.now(UTC)
    template = expect(await http.get(f"/cases/{template_case}"), 200)
    began = time.perf_counter()
    rows = synthetic_rows(args.list_rows, template, now, rng)
    listing.rows = await asyncio.to_thread(bulk_insert, f"sqlite:///{running.database}", rows)
    listing.insert_seconds = time.perf_counter() - began
    progress(f"{listing.rows} synthetic cases inserted in {listing.insert_seconds:.1f} s")
    queries = list_queries(rng, now)
    listing.latencies = {name: [] for name in queries}
    for sample in range(args.list_samples + 3):
        for name, query in queries.items():
            path = query()
            began = time.perf_counter()
            response = await http.get(path)
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                listing.errors[f"{path} -> {response.status_code}"] += 1
            elif sample >= 3:  # the first few warm the caches up
                listing.latencies[name].append(elapsed)
    running.check()
    progress("list queries timed")
    return listing


# --------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace,
    host: dict[str, Any],
    opening: Opening,
    actions: Actions,
    listing: Listing,
    rss: dict[str, float | None],
) -> None:
    ours_open, peer_open = opening.tierline.summary(), opening.peer.summary()
    ours_action, peer_action = actions.tierline.summary(), actions.peer.summary()
    direct_action = actions.case_update.summary()
    lists = listing.summary()
    open_ratio = ratio(ours_open["per_s"], peer_open["per_s"])
    action_ratio = ratio(ours_action["p99_ms"], peer_action["p99_ms"])
    slow_lists = [
        name
        for name, values in lists["by_query"].items()
        if values["p99_ms"] is None or values["p99_ms"] >= TARGETS["list_p99_ms_max"]
    ]
    met = {
        "open_rate_ratio": open_ratio is not None and open_ratio >= TARGETS["open_rate_ratio_min"],
        "action_p99_ratio": action_ratio is not None
        and action_ratio <= TARGETS["action_p99_ratio_max"],
        "list_p99": not slow_lists,
        "no_errors": not any(
            (
                ours_open["errors"],
                peer_open["errors"],
                ours_action["errors"],
                peer_action["errors"],
                direct_action["errors"],
                lists["errors"],
                opening.missing_from_read_model,
                opening.read_back_failures,
                actions.stale_answers,
            )
        ),
    }

    print(
        f"machine: {host['cpu']}, {host['cpu_count']} CPUs, {host['memory']}; "
        f"at start {host['at_start']}, at end {host['at_end']}"
    )
    print(
        f"  {host['platform']}, Python {host['python']}, SQLite {host['sqlite']}, "
        f"temporalio {host['temporalio']}, {host['temporal_cli']}"
    )
    print(
        f"\nopening ({args.cases} per side in {args.rounds} rounds, {args.concurrency} in flight)"
    )
    for name, side in (("tierline POST /cases", ours_open), ("peer update-with-start", peer_open)):
        print(
            f"  {name}: {side['per_s']}/s, p50 {side['p50_ms']} ms, p99 {side['p99_ms']} ms, "
            f"{side['errors']} errors; cores {side['cpu_cores']}"
        )
    print(
        f"  ratio {open_ratio} (target >= {TARGETS['open_rate_ratio_min']}); "
        f"{opening.missing_from_read_model} answered before projection, "
        f"{opening.read_back_failures} failed to read back"
    )
    print(f"\nactions ({args.clients} clients, {args.actions} each per side)")
    for name, side in (
        ("tierline POST notes", ours_action),
        ("peer update", peer_action),
        ("case update, no API", direct_action),
    ):
        print(
            f"  {name}: p50 {side['p50_ms']} ms, p99 {side['p99_ms']} ms, {side['per_s']}/s, "
            f"{side['errors']} errors; cores {side['cpu_cores']}"
        )
    print(
        f"  p99 ratio {action_ratio} (target <= {TARGETS['action_p99_ratio_max']}); "
        f"{actions.stale_answers} answers without the new state"
    )
    print(
        f"\nlists ({lists['rows']} synthetic cases inserted in {lists['insert_s']} s, "
        f"{args.list_samples} requests per query, one at a time)"
    )
    for name, values in lists["by_query"].items():
        print(
            f"  {name:>12}: p50 {values['p50_ms']} ms, p99 {values['p99_ms']} ms, "
            f"max {values['max_ms']} ms"
        )
    print(
        f"  all: p50 {lists['p50_ms']} ms, p99 {lists['p99_ms']} ms; "
        f"over {TARGETS['list_p99_ms_max']} ms at p99: {slow_lists or 'none'}"
    )
    for measured in (
        opening.tierline,
        opening.peer,
        actions.tierline,
        actions.peer,
        actions.case_update,
    ):
        for error, count in measured.errors.most_common(3):
            print(f"  {count} x {error}")
    for error, count in listing.errors.most_common(3):
        print(f"  {count} x {error}")
    print(f"\npeak RSS MiB: {rss}")
    print(f"targets {TARGETS}: met {met}")
    print(
        json.dumps(
            {
                "machine": host,
                "params": {
                    "cases": args.cases,
                    "concurrency": args.concurrency,
                    "clients": args.clients,
                    "actions_per_client": args.actions,
                    "rounds": args.rounds,
                    "list_rows": args.list_rows,
                    "list_samples": args.list_samples,
                },
                "open": {
                    "tierline": ours_open,
                    "peer_raw_start": peer_open,
                    "rate_ratio": open_ratio,
                    "answered_before_projection": opening.missing_from_read_model,
                    "read_back_failures": opening.read_back_failures,
                },
                "action": {
                    "tierline": ours_action,
                    "peer_raw_update": peer_action,
                    "p99_ratio": action_ratio,
                    "case_update_without_api": direct_action,
                    "answers_without_new_state": actions.stale_answers,
                },
                "list": lists,
                "peak_rss_mib": rss,
                "targets": TARGETS,
                "met": met,
            }
        )
    )


async def main(args: argparse.Namespace) -> None:
    host = {**machine(), "at_start": cpu_pressure()}
    with stack(args.dynamic_config, args.keep_workdir) as running:
        token = await agent_token(running.api_url, running.workdir / "var")
        client = await Client.connect(running.address, data_converter=pydantic_data_converter)
        http = Http(running.api_url, token, max(args.concurrency, args.clients) + 8)
        try:
            opening = await run_opening(args, running, http, client)
            # Each side acts on workflows of its own, so that every workflow has seen as
            # many updates as the peer's: the server's cost of an update grows with the
            # updates its run has taken (measured: about 9 % more after 150).
            cases = opening.numbers[: args.clients]
            direct_cases = opening.numbers[args.clients : 2 * args.clients]
            actions = await run_actions(args, running, http, client, cases, direct_cases)
            listing = await run_lists(args, running, http, opening.numbers[0])
        finally:
            await http.close()
        rss = {name: peak_rss_mib(child.pid) for name, child in running.children.items()}
        if args.keep_workdir:
            print(f"logs and databases kept in {running.workdir}")
    host["at_end"] = cpu_pressure()
    report(args, host, opening, actions, listing, rss)


# --------------------------------------------------------------------------- observability

SIDES = ("off", "on")
SPANS = ("worker", "api")  # the on side's traced processes
OVERHEAD_GOAL = {"action_rate_overhead_pct_max": 5.0}


@dataclass
class Observed(RunsChildren):
    """The dev server and two Tierline stacks on it, each in a namespace of its own: `off`
    (no worker metrics, no tracing) and `on`, with what `observe` names: worker metrics
    and the endpoints a Prometheus would scrape (`metrics`), tracing into memory in the
    worker and the API (`tracing`), or both."""

    workdir: Path
    observe: str
    sides: dict[str, Tierline]
    scraped: list[str]
    children: dict[str, Child]

    @property
    def traced(self) -> bool:
        return self.observe in ("both", "tracing")


@contextlib.contextmanager
def observed_stacks(
    dynamic_config: list[str], keep: bool, observe: str, sample_ratio: float
) -> Iterator[Observed]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tempfile.mkdtemp(prefix="bench-api-")) if keep else Path(tmp)
        children: dict[str, Child] = {}
        try:
            namespaces = [f"bench-{side}" for side in SIDES]
            server, address = start_server(workdir, dynamic_config, namespaces)
            children["server"] = server
            metrics_port = free_port() if observe in ("both", "metrics") else 0
            sides = {
                side: start_tierline(
                    children,
                    workdir / side,
                    address,
                    {
                        "TEMPORAL_NAMESPACE": f"bench-{side}",
                        "TEMPORAL_TASK_QUEUE": "bench-tierline",
                        "WORKER_METRICS_PORT": str(metrics_port if side == "on" else 0),
                    }
                    | ({"TRACE_SAMPLE_RATIO": str(sample_ratio)} if side == "on" else {}),
                    side=side,
                    traced=side == "on" and observe in ("both", "tracing"),
                )
                for side in SIDES
            }
            worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
            api_metrics = f"{sides['on'].api_url}/metrics"
            scraped = [worker_metrics, api_metrics] if metrics_port else []
            yield Observed(workdir, observe, sides, scraped, children)
        finally:
            for child in reversed(children.values()):
                child.stop()


class Scraper:
    """Reads the on side's metrics endpoints once every `interval` seconds of that side's
    measured time, as Prometheus would: the time left to the next scrape carries over from
    one of its rounds to the next, so the side pays for its scrapes and no other does."""

    def __init__(self, urls: list[str], interval: float) -> None:
        self.urls = urls
        self.interval = interval
        self.due_in = 0.0  # the first scrape as the first measured round starts
        self.latencies: dict[str, list[float]] = {url: [] for url in urls}
        self.sizes: dict[str, int] = {}
        self.errors: Counter[str] = Counter()

    async def _scrape(self, session: aiohttp.ClientSession, url: str) -> None:
        began = time.perf_counter()
        try:
            async with session.get(url) as response:
                body = await response.read()
                if response.status != 200:
                    raise UnexpectedResponse(f"GET {url} -> {response.status}")
        except Exception as err:
            self.errors[f"{type(err).__name__}: {err}"[:200]] += 1
        else:
            self.latencies[url].append(time.perf_counter() - began)
            self.sizes[url] = len(body)

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            began = time.monotonic()
            try:
                await asyncio.sleep(self.due_in)
            finally:
                self.due_in = max(0.0, self.due_in - (time.monotonic() - began))
            await asyncio.gather(*(self._scrape(session, url) for url in self.urls))
            self.due_in = self.interval

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            task = asyncio.create_task(self._loop(session))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def summary(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval,
            "errors": sum(self.errors.values()),
            "endpoints": {
                url: {
                    "scrapes": len(values),
                    "p50_ms": ms(percentile(values, 0.50)),
                    "max_ms": ms(max(values, default=None)),
                    "bytes": self.sizes.get(url),
                }
                for url, values in self.latencies.items()
            },
        }


@dataclass
class Compared:
    """One measurement on both sides: each side's figures and its rate in each round, and
    the spans the on side's processes ended over the measured rounds."""

    sides: dict[str, Side]
    rounds: dict[str, list[float]] = field(default_factory=lambda: {side: [] for side in SIDES})
    spans: dict[str, Counter[str]] = field(default_factory=dict)
    numbers: dict[str, list[int]] = field(default_factory=lambda: {side: [] for side in SIDES})
    stale_answers: int = 0

    def summary(self, every: str) -> dict[str, Any]:
        off, on = (self.sides[side].summary() for side in SIDES)
        cpu = {side: self.cpu_ms(side) for side in SIDES}
        count = on["count"]
        by_process = {process: counts.total() for process, counts in self.spans.items()}
        by_round = [
            shortfall_pct(off_rate, on_rate)
            for off_rate, on_rate in zip(self.rounds["off"], self.rounds["on"], strict=True)
        ]
        known = [overhead for overhead in by_round if overhead is not None]
        return {
            **{side: {**self.sides[side].summary(), "cpu_ms": cpu[side]} for side in SIDES},
            "rate_overhead_pct": shortfall_pct(off["per_s"], on["per_s"]),
            "p50_increase_pct": increase_pct(off["p50_ms"], on["p50_ms"]),
            "p99_increase_pct": increase_pct(off["p99_ms"], on["p99_ms"]),
            "cpu_increase_pct": {
                name: increase_pct(cpu["off"].get(name), cpu["on"].get(name))
                for name in ("worker", "api", "server", "total")
            },
            "rounds_per_s": self.rounds,
            "round_overhead_pct": by_round,
            # A burst of other work on the machine skews a round or two: the median holds.
            "median_round_overhead_pct": round(statistics.median(known), 1) if known else None,
            "spans": {
                **by_process,
                f"per_{every}": round(sum(by_process.values()) / count, 1) if count else None,
                "by_name": {
                    process: {name: round(n / count, 2) for name, n in counts.most_common()}
                    if count
                    else {}
                    for process, counts in self.spans.items()
                },
            },
        }

    def cpu_ms(self, side: str) -> dict[str, float]:
        """CPU milliseconds per request of `side`: its worker and API, the shared server,
        the bench, their total, and the other side's processes (idle meanwhile)."""
        measured = self.sides[side]
        count = len(measured.latencies)
        if not count:
            return {}
        used = {name: seconds * 1000 / count for name, seconds in measured.cpu.items()}
        own = {
            "worker": used.pop(f"{side}_worker"),
            "api": used.pop(f"{side}_api"),
            "server": used.pop("server"),
            "bench": used.pop("bench"),
        }
        own["total"] = sum(own.values())
        own["other_side_idle"] = sum(used.values())
        return {name: round(value, 2) for name, value in own.items()}


def shortfall_pct(off: float | None, on: float | None) -> float | None:
    """How far `on` (a rate) falls short of `off`, in per cent of `off`."""
    if off is None or on is None or not off:
        return None
    return round((off - on) / off * 100, 1)


def increase_pct(off: float | None, on: float | None) -> float | None:
    """How far `on` (a latency, a cost) exceeds `off`, in per cent of `off`."""
    if off is None or on is None or not off:
        return None
    return round((on - off) / off * 100, 1)


async def span_counts(running: Observed) -> dict[str, Counter[str]]:
    """Spans the on side's worker and API have ended so far, by name: each writes its
    counts when sent SIGUSR1 (`bench.observed`)."""
    counts = {process: Counter[str]() for process in SPANS}
    if not running.traced:
        return counts
    # The last spans of a round (a workflow task's) may end just after its last answer.
    await asyncio.sleep(1.0)
    for process in counts:
        path = running.sides["on"].directory / f"{process}-spans.json"
        path.unlink(missing_ok=True)
        running.children[f"on_{process}"].process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not path.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"the on side's {process} wrote no span counts within 10 s")
            await asyncio.sleep(0.05)
        counts[process].update(json.loads(path.read_text())["by_name"])
    return counts


async def alternate_observed(
    rounds: int, running: Observed, scraper: Scraper, compared: Compared, lanes: dict[str, Lanes]
) -> None:
    """`alternate`, with the on side scraped while it is measured and each round's rate."""
    before = await span_counts(running)
    for number in range(rounds):
        for side in SIDES if number % 2 == 0 else SIDES[::-1]:
            measured = compared.sides[side]
            done, seconds = len(measured.latencies), measured.seconds
            async with scraper.running() if side == "on" else contextlib.nullcontext():
                await measure(measured, running, lanes[side]())
            rate = (len(measured.latencies) - done) / (measured.seconds - seconds)
            compared.rounds[side].append(round(rate, 1))
    after = await span_counts(running)
    compared.spans = {process: after[process] - before[process] for process in after}


async def warm_up(running: Observed, compared: Compared, lanes: dict[str, Lanes]) -> None:
    """One round of each side, not counted but for its errors."""
    for side in SIDES:
        warm = Side(f"{side} (warm-up)")
        await measure(warm, running, lanes[side]())
        compared.sides[side].errors.update(warm.errors)


async def open_observed(
    args: argparse.Namespace, running: Observed, https: dict[str, Http], scraper: Scraper
) -> Compared:
    """`POST /cases` on each side, `--concurrency` in flight."""
    compared = Compared({side: Side(f"{side}: POST /cases") for side in SIDES})
    indexes = iter(range(1, 10**9))

    async def open_case(side: str, index: int) -> None:
        view = expect(await https[side].post("/cases", json=case_details(index)), 201)
        compared.numbers[side].append(view["number"])

    def lanes(count: int) -> dict[str, Lanes]:
        def make(side: str) -> Lanes:
            def jobs() -> list[Iterator[Job]]:
                shared = iter([partial(open_case, side, next(indexes)) for _ in range(count)])
                return [shared] * args.concurrency

            return jobs

        return {side: make(side) for side in SIDES}

    await warm_up(running, compared, lanes(args.concurrency * 2))
    per_round = max(1, args.cases // args.rounds)
    await alternate_observed(args.rounds, running, scraper, compared, lanes(per_round))
    return compared


async def act_observed(
    args: argparse.Namespace,
    running: Observed,
    https: dict[str, Http],
    scraper: Scraper,
    numbers: dict[str, list[int]],
) -> Compared:
    """`POST /cases/{n}/notes` from `--clients` clients on each side, each on a case of its
    own (the first cases the side opened)."""
    compared = Compared({side: Side(f"{side}: POST notes") for side in SIDES})
    last_seq: dict[tuple[str, int], int] = {}

    async def add_note(side: str, number: int) -> None:
        path = f"/cases/{number}/notes"
        view = expect(await https[side].post(path, json={"note": "called back"}), 200)
        if view["seq"] <= last_seq.get((side, number), 0):
            compared.stale_answers += 1
        last_seq[side, number] = view["seq"]

    def lanes(count: int) -> dict[str, Lanes]:
        def make(side: str) -> Lanes:
            cases = numbers[side][: args.clients]
            return lambda: [iter([partial(add_note, side, number)] * count) for number in cases]

        return {side: make(side) for side in SIDES}

    await warm_up(running, compared, lanes(3))
    per_round = max(1, args.actions // args.rounds)
    await alternate_observed(args.rounds, running, scraper, compared, lanes(per_round))
    return compared


def report_observed(
    args: argparse.Namespace,
    host: dict[str, Any],
    opening: Compared,
    actions: Compared,
    scraper: Scraper,
    rss: dict[str, float | None],
) -> None:
    opened, acted = opening.summary("case"), actions.summary("note")
    scrapes = scraper.summary()
    action_overhead = acted["rate_overhead_pct"]
    errors = sum(
        compared.sides[side].summary()["errors"]
        for compared in (opening, actions)
        for side in SIDES
    )
    traced = args.observe in ("both", "tracing")
    metrics = args.observe in ("both", "metrics")
    # Over opening and actions: a sampled-out ratio can leave the worker no note spans at
    # all, since its update spans follow the decision taken when the case was opened (the
    # SDK's interceptor parents them on the workflow's start and only links the caller).
    spans = {process: opened["spans"][process] + acted["spans"][process] for process in SPANS}
    met = {
        "action_rate_overhead": action_overhead is not None
        and action_overhead < OVERHEAD_GOAL["action_rate_overhead_pct_max"],
        # Proof that the on side ran with what it was asked to, and the off side without.
        "tracing_as_asked": all(spans.values()) == (traced and args.sample_ratio > 0),
        "scraped_as_asked": (
            bool(scrapes["endpoints"])
            and all(values["scrapes"] for values in scrapes["endpoints"].values())
        )
        == metrics,
        "no_errors": not errors and not scrapes["errors"] and not actions.stale_answers,
    }
    # The API's request metrics are on in both: `api.app` always instruments its routes.
    sides: dict[str, dict[str, Any]] = {
        "off": {"worker_metrics": False, "tracing": False, "api_request_metrics": True},
        "on": {
            "worker_metrics": metrics,
            "tracing": f"into memory (InMemorySpanExporter keeping {KEPT_SPANS}, through a "
            f"BatchSpanProcessor), sample ratio {args.sample_ratio:g}"
            if traced
            else False,
            "api_request_metrics": True,
        },
    }
    if metrics:
        sides["on"]["scraped"] = f"worker and API, every {args.scrape_interval:g} s measured"

    print(
        f"machine: {host['cpu']}, {host['cpu_count']} CPUs, {host['memory']}; "
        f"at start {host['at_start']}, at end {host['at_end']}"
    )
    print(
        f"  {host['platform']}, Python {host['python']}, SQLite {host['sqlite']}, "
        f"temporalio {host['temporalio']}, {host['temporal_cli']}"
    )
    print(f"\nsides: {sides}")
    for title, summary, every in (
        (f"opening ({args.cases} per side, {args.concurrency} in flight)", opened, "case"),
        (f"actions ({args.clients} clients, {args.actions} notes each per side)", acted, "note"),
    ):
        print(f"\n{title}, {args.rounds} rounds")
        for side in SIDES:
            values = summary[side]
            print(
                f"  {side:>3}: {values['per_s']}/s, p50 {values['p50_ms']} ms, "
                f"p99 {values['p99_ms']} ms, {values['errors']} errors; "
                f"by round {summary['rounds_per_s'][side]}; CPU ms each {values['cpu_ms']}"
            )
        print(
            f"  on against off: rate {summary['rate_overhead_pct']} % lower (by round "
            f"{summary['round_overhead_pct']}, median {summary['median_round_overhead_pct']}), "
            f"p50 {summary['p50_increase_pct']} % and p99 {summary['p99_increase_pct']} % "
            f"higher, CPU each "
            f"{summary['cpu_increase_pct']} % more; spans per {every} "
            f"{summary['spans'][f'per_{every}']} (worker {summary['spans']['worker']}, "
            f"API {summary['spans']['api']} in all)"
        )
    print(f"\nscrapes: {scrapes}")
    for compared in (opening, actions):
        for side in SIDES:
            for error, count in compared.sides[side].errors.most_common(3):
                print(f"  {count} x {error}")
    print(f"peak RSS MiB: {rss}")
    print(f"goal {OVERHEAD_GOAL}: met {met}")
    print(
        json.dumps(
            {
                "machine": host,
                "mode": "observability",
                "params": {
                    "observe": args.observe,
                    "sample_ratio": args.sample_ratio if traced else None,
                    "cases": args.cases,
                    "concurrency": args.concurrency,
                    "clients": args.clients,
                    "actions_per_client": args.actions,
                    "rounds": args.rounds,
                    "scrape_interval_s": args.scrape_interval,
                },
                "sides": sides,
                "open": opened,
                "action": {**acted, "answers_without_new_state": actions.stale_answers},
                "scrapes": scrapes,
                "peak_rss_mib": rss,
                "goal": OVERHEAD_GOAL,
                "met": met,
            }
        )
    )


async def main_observed(args: argparse.Namespace) -> None:
    host = {**machine(), "at_start": cpu_pressure()}
    stacks = observed_stacks(
        args.dynamic_config, args.keep_workdir, args.observe, args.sample_ratio
    )
    with stacks as running:
        connections = max(args.concurrency, args.clients) + 8
        https = {
            side: Http(
                tierline.api_url,
                await agent_token(tierline.api_url, tierline.directory / "var"),
                connections,
            )
            for side, tierline in running.sides.items()
        }
        scraper = Scraper(running.scraped, args.scrape_interval)
        try:
            opening = await open_observed(args, running, https, scraper)
            actions = await act_observed(args, running, https, scraper, opening.numbers)
        finally:
            for http in https.values():
                await http.close()
        rss = {name: peak_rss_mib(child.pid) for name, child in running.children.items()}
        if args.keep_workdir:
            print(f"logs and databases kept in {running.workdir}")
    host["at_end"] = cpu_pressure()
    report_observed(args, host, opening, actions, scraper, rss)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to try the bench out")
    parser.add_argument("--cases", type=int, help="cases opened per side (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="opens in flight per side")
    parser.add_argument("--clients", type=int, default=20, help="clients acting on cases")
    parser.add_argument("--actions", type=int, help="actions per client per side (default 150)")
    parser.add_argument(
        "--rounds", type=int, help="rounds the sides alternate in (default 4; 10 observability)"
    )
    parser.add_argument("--list-rows", type=int, help="synthetic cases (default 100000)")
    parser.add_argument("--list-samples", type=int, help="requests per list query (default 200)")
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a dev server dynamic config value, to try a setting (repeatable)",
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the logs and databases in a temporary directory for a post-mortem",
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="opening and actions with metrics and tracing off against on, no peer",
    )
    parser.add_argument(
        "--observe",
        choices=["both", "metrics", "tracing"],
        default="both",
        help="what the on side turns on (observability; default both)",
    )
    parser.add_argument(
        "--scrape-interval",
        type=float,
        default=15.0,
        help="seconds of the on side's measured time between scrapes (observability)",
    )
    parser.add_argument(
        "--sample-ratio",
        type=float,
        default=1.0,
        help="share of the traces the on side records, its TRACE_SAMPLE_RATIO "
        "(observability; default 1.0)",
    )
    parser.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0.0 <= args.sample_ratio <= 1.0:
        parser.error("--sample-ratio is a share, from 0 to 1")
    if args.observability:
        defaults = {"cases": 200, "actions": 60} if args.quick else {"cases": 1_000, "actions": 150}
        defaults["rounds"] = 4 if args.quick else 10
    else:
        defaults = (
            {"cases": 200, "actions": 10, "list_rows": 10_000, "list_samples": 30}
            if args.quick
            else {"cases": 2_000, "actions": 150, "list_rows": 100_000, "list_samples": 200}
        )
        defaults["rounds"] = 4
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.peer_worker:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_peer_worker(arguments.address, arguments.task_queue))
    elif arguments.observability:
        asyncio.run(main_observed(arguments))
    else:
        asyncio.run(main(arguments))
