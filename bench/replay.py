"""Benchmark: bulk replay of recorded case histories, against the SDK's bare replay loop.

Run with `.venv/bin/python bench/replay.py` (1,000 cases; `--cases 100` for a quick run).

Recording: a fresh embedded dev server (`temporal server start-dev` from the venv, SQLite
file in WAL mode, the case search attributes, continue-as-new suggested after
`--continue-as-new-after` events so that long cases roll over as they would past 4,096),
the Tierline worker in this process (`worker.build_worker`, a SQLite read model and a
local SMTP sink in a temporary directory, so notifications are really delivered), and
`--concurrency` cases driven at once through the updates agents and customers send. Each
case follows its own seeded path: open; usually assign and respond; some internal notes,
a long thread of notes for a few (these continue as new); a question to the customer and
the reply; a tier escalation, a severity change, a management escalation; then resolve
and close or confirm, or close out of scope, or stay open. A refused update (the state
did not allow it) writes nothing and is counted. Every run of every case is fetched
(oldest first, following continue-as-new) and cached, gzipped, under `--cache-dir`;
`--reuse` replays a cache of at least `--cases` cases instead of recording again (the
histories were then recorded by older code, which is what the replay gate checks).

Replay, measured: `audit.replay.replay_cases` over all cases, against the peer, the
SDK's own `Replayer.replay_workflows` over the same runs with the same Replayer
configuration (workflows, pydantic converter, sandboxed runner, runtime). The replay
work proper, the sandbox, core's state machines and our workflow code, is identical on
both sides, so the ratio is the cost of our wrapper (per-case verdicts, run-chain checks,
progress callbacks), the one part of bulk replay this code controls. A trivial workflow
of as many events would instead measure how heavy CaseWorkflow is to replay, which the
gate cannot change. The sides alternate over `--rounds` rounds (which goes first changes
each round), all histories already in memory; the figures are the medians.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path[:] = [entry for entry in sys.path if entry != str(ROOT / "bench")]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import (  # noqa: E402
    Client,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from audit.replay import ReplaySummary, build_replayer, replay_cases  # noqa: E402
from db.read_model import create_schema, make_engine  # noqa: E402
from models.case import (  # noqa: E402
    FINAL,
    Actor,
    CaseDetails,
    CaseRouting,
    CaseView,
    Contact,
    OpenCase,
    Role,
    case_workflow_id,
)
from models.commands import (  # noqa: E402
    AddInternalNote,
    AssignCase,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ConfirmResolution,
    CustomerReply,
    EscalateTier,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from policies.loading import load_catalogs  # noqa: E402
from policies.resolution import resolve_plan  # noqa: E402
from runtime import pin_time_zone_data  # noqa: E402
from settings import Settings, embedded_sqlite_flags  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.case import CaseStart, CaseWorkflow, execute_command  # noqa: E402
from workflows.search_attributes import ALL_KEYS  # noqa: E402

CATALOG = "us-software-002"
PLANS = ("enterprise", "standard")  # no reopen window: a closed case completes at once
SEVERITIES = ("high", "medium", "low")
AGENT = Actor(id="agent-bea", role=Role.agent)
CUSTOMER = Actor(id="cy@bench.example", role=Role.customer)
ROUTING = CaseRouting(customer_emails=("cy@bench.example",), agents_email="team@vendor.example")
MANIFEST = "manifest.json"

CaseHandle = WorkflowHandle[CaseWorkflow, CaseView]
Cases = list[tuple[int, list[WorkflowHistory]]]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = None
    with contextlib.suppress(OSError):
        load = [round(value, 2) for value in os.getloadavg()]
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": cli,
        "load_average": load,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or None


# --------------------------------------------------------------------------- recording


class SmtpSink:
    """Accepts every message and keeps nothing."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def refusable(handle: CaseHandle, command: Any, tally: Counter[str]) -> None:
    """Send one command; a refused one (the state did not allow it) is only counted."""
    try:
        await execute_command(handle, command)
        tally["updates"] += 1
    except WorkflowUpdateFailedError:
        tally["refused"] += 1
    except RPCError:
        # Sent as the run continued as new; the path goes on without it.
        tally["lost_to_rollover"] += 1


async def drive(
    client: Client, queue: str, number: int, seed: int, plans: dict[str, Any], tally: Counter[str]
) -> list[WorkflowHistory]:
    """One case along its own seeded path; returns its runs, oldest first."""
    rng = random.Random(seed * 1_000_003 + number)
    severity = rng.choice(SEVERITIES)
    command = OpenCase(
        number=number,
        details=CaseDetails(
            organisation="bench",
            company_name="Bench Ltd",
            contact=Contact(name="Cy Bench", email="cy@bench.example"),
            channel="web",
            title=f"Case {number}: exports time out",
            details="Every export over 1,000 rows fails after a minute.",
            severity=severity,
        ),
        plan=plans[rng.choice(PLANS)],
        routing=ROUTING,
        opened_by=CUSTOMER,
    )
    started: CaseHandle = await client.start_workflow(
        CaseWorkflow.run, CaseStart(open=command), id=case_workflow_id(number), task_queue=queue
    )
    handle: CaseHandle = client.get_workflow_handle_for(CaseWorkflow.run, started.id)
    await handle.execute_update(CaseWorkflow.opened)
    tally["updates"] += 1

    async def act(command: Any) -> None:
        await refusable(handle, command, tally)

    if rng.random() < 0.7:
        await act(AssignCase(actor=AGENT, assignee="bea"))
    if rng.random() < 0.85:
        await act(RespondPublicly(actor=AGENT, message="Looking at it."))
    long_thread = rng.random() < 0.08
    for note in range(rng.randint(12, 20) if long_thread else rng.randint(0, 4)):
        await act(AddInternalNote(actor=AGENT, note=f"Note {note}."))
    if rng.random() < 0.3:
        await act(
            RequestInformation(actor=AGENT, message="Which version do you run?"),
        )
        await act(CustomerReply(actor=CUSTOMER, message="4.2.1"))
    if rng.random() < 0.2:
        tier = 3 if rng.random() < 0.3 else 2
        await act(EscalateTier(actor=AGENT, tier=tier, reason="Needs a fix."))
    if rng.random() < 0.15:
        other = rng.choice([s for s in SEVERITIES if s != severity])
        await act(
            ChangeSeverity(actor=AGENT, severity=other, reason="Impact reassessed."),
        )
    if rng.random() < 0.1:
        await act(
            RequestManagementEscalation(actor=CUSTOMER, reason="Production is down."),
        )
    ending = rng.random()
    if ending < 0.65:
        await act(ResolveCase(actor=AGENT, summary="Fixed the timeout."))
        if rng.random() < 0.5:
            await act(ConfirmResolution(actor=CUSTOMER))
        else:
            await act(CloseCase(actor=AGENT, reason="Confirmed by phone."))
    elif ending < 0.75:
        await act(
            CloseOutOfScope(actor=AGENT, exclusion="third-party", reason="Their proxy drops it."),
        )
    if (await handle.query(CaseWorkflow.view)).status in FINAL:
        await handle.result()  # no reopen window: it completes once notifications are out
    return await runs_of(client, started)


async def runs_of(client: Client, started: CaseHandle) -> list[WorkflowHistory]:
    """Every run of a case, oldest first, following continue-as-new."""
    runs: list[WorkflowHistory] = []
    run_id: str | None = started.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(started.id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return runs


async def record(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """Drive `args.cases` cases on a fresh dev server and cache their histories."""
    pin_time_zone_data()
    catalog = load_catalogs()[CATALOG]
    now = datetime.now(UTC)
    plans = {plan: resolve_plan(catalog, plan, now) for plan in PLANS}
    prepare_cache(cache)
    tally: Counter[str] = Counter()
    smtp_port = free_port()
    sink = Controller(SmtpSink(), hostname="127.0.0.1", port=smtp_port)
    sink.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=ALL_KEYS,
            dev_server_database_filename=str(Path(scratch) / "temporal.db"),
            dev_server_log_level="error",
            dev_server_extra_args=[
                *embedded_sqlite_flags(),
                "--dynamic-config-value",
                f"limit.historyCount.suggestContinueAsNew={args.continue_as_new_after}",
            ],
        )
        engine = make_engine(f"sqlite:///{Path(scratch) / 'read-model.db'}")
        create_schema(engine)
        settings = Settings(smtp_port=smtp_port, webhook_secret="bench")
        queue = f"bench-replay-{uuid.uuid4()}"
        semaphore = asyncio.Semaphore(args.concurrency)
        done = 0

        async def one(number: int) -> None:
            nonlocal done
            async with semaphore:
                runs = await drive(env.client, queue, number, args.seed, plans, tally)
            payload = {"workflow_id": runs[0].workflow_id, "runs": [_as_dict(r) for r in runs]}
            path = cache / f"case-{number:06d}.json.gz"
            path.write_bytes(gzip.compress(json.dumps(payload).encode(), compresslevel=5))
            tally["runs"] += len(runs)
            tally["events"] += sum(len(run.events) for run in runs)
            done += 1
            if done % 100 == 0:
                progress(f"recorded {done}/{args.cases} cases")

        try:
            with ThreadPoolExecutor(max_workers=8) as executor:
                async with build_worker(env.client, engine, queue, executor, settings):
                    await asyncio.gather(*(one(n) for n in range(1, args.cases + 1)))
        finally:
            engine.dispose()
            await env.shutdown()
            sink.stop()
    manifest = {
        "cases": args.cases,
        "runs": tally["runs"],
        "events": tally["events"],
        "updates": tally["updates"],
        "refused_updates": tally["refused"],
        "updates_lost_to_rollover": tally["lost_to_rollover"],
        "seed": args.seed,
        "continue_as_new_after": args.continue_as_new_after,
        "recorded_at": now.isoformat(),
        "recording_seconds": round(time.perf_counter() - started, 1),
        "git_commit": git_commit(),
        "temporalio": metadata.version("temporalio"),
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def prepare_cache(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob("case-*.json.gz"):
        stale.unlink()
    (cache / MANIFEST).unlink(missing_ok=True)


def _as_dict(history: WorkflowHistory) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(history.to_json())
    return parsed


def load_cache(cache: Path, cases: int) -> Cases:
    loaded: Cases = []
    for number in range(1, cases + 1):
        payload = json.loads(gzip.decompress((cache / f"case-{number:06d}.json.gz").read_bytes()))
        runs = [WorkflowHistory.from_json(payload["workflow_id"], run) for run in payload["runs"]]
        loaded.append((number, runs))
    return loaded


# --------------------------------------------------------------------------- replaying


async def ours(cases: Cases) -> tuple[float, ReplaySummary]:
    reported = 0

    def count(_number: int, _verdict: object) -> None:
        nonlocal reported
        reported += 1

    started = time.perf_counter()
    summary = await replay_cases(cases, on_progress=count)
    seconds = time.perf_counter() - started
    assert reported == len(cases)
    return seconds, summary


async def peer(runs: Sequence[WorkflowHistory]) -> tuple[float, int]:
    """The SDK's bare loop over the same runs, configured as ours."""

    async def each() -> AsyncIterator[WorkflowHistory]:
        for run in runs:
            yield run

    started = time.perf_counter()
    results = await build_replayer().replay_workflows(each(), raise_on_replay_failure=False)
    return time.perf_counter() - started, len(results.replay_failures)


async def main(args: argparse.Namespace) -> None:
    cache = Path(args.cache_dir)
    manifest_path = cache / MANIFEST
    reusable = manifest_path.exists() and json.loads(manifest_path.read_text())["cases"] >= (
        args.cases
    )
    if args.reuse and reusable:
        manifest = json.loads(manifest_path.read_text())
        progress(f"reusing {args.cases} of {manifest['cases']} cached cases in {cache}")
    else:
        if args.reuse:
            progress(f"no cache of {args.cases} cases in {cache}: recording")
        manifest = await record(args, cache)
        progress(f"recorded {args.cases} cases in {manifest['recording_seconds']} s")
    cases = load_cache(cache, args.cases)
    runs = [run for _, case_runs in cases for run in case_runs]
    events = sum(len(run.events) for run in runs)
    progress(f"loaded {len(cases)} cases, {len(runs)} runs, {events} events")

    # One unmeasured pass of each warms the sandbox's module cache and the runtime.
    warm = cases[: min(20, len(cases))]
    await ours(warm)
    await peer([run for _, case_runs in warm for run in case_runs])

    ours_seconds: list[float] = []
    peer_seconds: list[float] = []
    summary: ReplaySummary | None = None
    peer_failures = 0
    for round_number in range(args.rounds):
        order = ("ours", "peer") if round_number % 2 == 0 else ("peer", "ours")
        for side in order:
            if side == "ours":
                seconds, summary = await ours(cases)
                ours_seconds.append(seconds)
            else:
                seconds, peer_failures = await peer(runs)
                peer_seconds.append(seconds)
            progress(f"round {round_number + 1} {side}: {seconds:.1f} s")
    assert summary is not None
    report(args, manifest, cases, runs, events, summary, ours_seconds, peer_seconds, peer_failures)


def report(
    args: argparse.Namespace,
    manifest: dict[str, Any],
    cases: Cases,
    runs: list[WorkflowHistory],
    events: int,
    summary: ReplaySummary,
    ours_seconds: list[float],
    peer_seconds: list[float],
    peer_failures: int,
) -> None:
    host = machine()
    multi_run = sum(len(case_runs) > 1 for _, case_runs in cases)
    sizes = sorted(len(run.events) for run in runs)

    def side(seconds: list[float]) -> dict[str, Any]:
        median = statistics.median(seconds)
        return {
            "seconds_median": round(median, 2),
            "seconds_each_round": [round(s, 2) for s in seconds],
            "cases_per_s": round(len(cases) / median, 1),
            "histories_per_s": round(len(runs) / median, 1),
            "events_per_s": round(events / median),
        }

    figures = {
        "machine": host,
        "cases": len(cases),
        "histories": len(runs),
        "cases_with_several_runs": multi_run,
        "events": events,
        "events_per_history_p50": sizes[len(sizes) // 2],
        "events_per_history_max": sizes[-1],
        "recording": {
            key: manifest.get(key)
            for key in (
                "recorded_at",
                "git_commit",
                "recording_seconds",
                "updates",
                "refused_updates",
                "continue_as_new_after",
            )
        },
        "rounds": args.rounds,
        "ours": {
            **side(ours_seconds),
            "intact": summary.intact,
            "diverged": summary.diverged,
            "errors": summary.errors,
        },
        "peer_sdk_replay_workflows": {**side(peer_seconds), "replay_failures": peer_failures},
    }
    figures["ours_to_peer_rate"] = round(
        statistics.median(peer_seconds) / statistics.median(ours_seconds), 3
    )
    print(f"machine: {host['cpu']}, {host['cores']} cores, {host['platform']}")
    print(f"  Python {host['python']}, temporalio {host['temporalio']}, {host['temporal_cli']}")
    print(
        f"{len(cases)} cases, {len(runs)} histories ({multi_run} cases continued as new), "
        f"{events} events (per history p50 {figures['events_per_history_p50']}, "
        f"max {figures['events_per_history_max']}); recorded at commit "
        f"{manifest.get('git_commit')}, {manifest.get('refused_updates')} updates refused"
    )
    for name, key in (
        ("replay_cases", "ours"),
        ("SDK replay_workflows", "peer_sdk_replay_workflows"),
    ):
        figure = figures[key]
        print(
            f"  {name}: {figure['histories_per_s']} histories/s, {figure['events_per_s']} "
            f"events/s, {figure['cases_per_s']} cases/s "
            f"(median of {figure['seconds_each_round']} s)"
        )
    print(
        f"  verdicts: {summary.intact} intact, {summary.diverged} diverged, {summary.errors} "
        f"errors; peer replay failures {peer_failures}; ours/peer rate "
        f"{figures['ours_to_peer_rate']}"
    )
    print(json.dumps(figures))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000, help="cases to record and replay")
    parser.add_argument("--concurrency", type=int, default=32, help="cases driven at once")
    parser.add_argument(
        "--cache-dir", default=str(ROOT / "var" / "bench-replay"), help="recorded histories"
    )
    parser.add_argument("--reuse", action="store_true", help="replay the cache if it suffices")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per side")
    parser.add_argument("--seed", type=int, default=7, help="seed of the cases' paths")
    parser.add_argument(
        "--continue-as-new-after",
        type=int,
        default=120,
        help="events after which the dev server suggests continue-as-new",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
