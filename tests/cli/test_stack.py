"""`tierline run` supervises its children: one that dies comes back after a backoff, one
that keeps dying stops the stack, and Ctrl-C still stops everything in order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from cli.stack import (
    CRASH_LIMIT,
    FIRST_RESTART_DELAY,
    MAX_RESTART_DELAY,
    Child,
    Crashes,
    CrashLoop,
    RestartPolicy,
    Supervisor,
    exit_reason,
    in_use,
    wait_for_port,
)
from settings import ROOT, Settings
from tests.conftest import VENV_BIN, free_port

T = TypeVar("T")

EXITS_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]
WAITS_TO_BE_STOPPED = [sys.executable, "-c", "import time; time.sleep(600)"]


def eventually(check: Callable[[], T], what: str, timeout: float = 60) -> T:
    """Poll `check` until it returns something true, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)


# --------------------------------------------------------------------------- decisions


def test_restart_delays_double_up_to_the_cap_and_start_over_after_a_stable_run() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=8, stable_uptime=60, crash_limit=100)
    crashes = Crashes()
    delays = [crashes.record(now=t, uptime=5, policy=policy) for t in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert crashes.record(now=100, uptime=60, policy=policy) == 1
    assert crashes.record(now=101, uptime=1, policy=policy) == 2


def test_the_crash_limit_counts_only_exits_within_the_window() -> None:
    policy = RestartPolicy(crash_limit=3, crash_window=300)
    crashes = Crashes()
    assert crashes.record(now=0, uptime=1, policy=policy) is not None
    assert crashes.record(now=100, uptime=1, policy=policy) is not None
    assert crashes.record(now=350, uptime=1, policy=policy) is not None  # 0 has aged out
    assert crashes.record(now=360, uptime=1, policy=policy) is None  # 100, 350, 360


def test_the_default_policy_is_the_named_constants() -> None:
    policy = RestartPolicy()
    assert (policy.first_delay, policy.max_delay, policy.crash_limit) == (
        FIRST_RESTART_DELAY,
        MAX_RESTART_DELAY,
        CRASH_LIMIT,
    )


def test_exit_reasons_name_the_code_or_the_signal() -> None:
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(-200) == "killed by signal 200"


# --------------------------------------------------------------------------- supervisor


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    supervisor = Supervisor(ROOT, dict(os.environ), RestartPolicy(first_delay=0.01))
    try:
        yield supervisor
    finally:
        supervisor.stop()


def test_a_child_that_keeps_exiting_stops_the_supervisor(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor.policy = RestartPolicy(first_delay=0.01, crash_limit=3)
    supervisor.start(Child("flaky", EXITS_AT_ONCE))
    started = time.monotonic()
    with pytest.raises(CrashLoop) as stopped:
        supervisor.watch()
    assert time.monotonic() - started < 30
    assert str(stopped.value) == "flaky exited 3 times within 300 s (last exited with code 3)"
    out = capsys.readouterr().out
    assert len(re.findall(r"started flaky \(pid \d+\)", out)) == 3
    assert re.search(
        r"flaky \(pid \d+\) exited with code 3; restarting it in 0.01 s, attempt 1", out
    )
    assert re.search(r"restarting it in 0.02 s, attempt 2", out)


def test_a_child_restarts_only_once_what_it_needs_serves(supervisor: Supervisor) -> None:
    serving = threading.Event()
    server = Child("server", WAITS_TO_BE_STOPPED, serving=serving.is_set)
    worker = Child("worker", EXITS_AT_ONCE, needs=(server,))
    supervisor.start(server)
    first = supervisor.start(worker)
    eventually(lambda: first.poll() is not None, "the worker exits")
    supervisor.tend()
    assert worker.process is None
    eventually(lambda: time.monotonic() > worker.restart_at + 0.1, "the restart comes due")
    supervisor.tend()
    assert worker.process is None  # its delay is over, but the server does not serve yet
    serving.set()
    supervisor.tend()
    assert server.up
    assert worker.process is not None and worker.process is not first


def test_an_interrupt_during_a_backoff_stops_at_once(supervisor: Supervisor) -> None:
    supervisor.policy = RestartPolicy(first_delay=3600)
    steady = Child("steady", WAITS_TO_BE_STOPPED)
    flaky = Child("flaky", EXITS_AT_ONCE)
    supervisor.start(steady)
    supervisor.start(flaky)

    watched = threading.Event()

    def interrupt_once_backing_off() -> None:
        deadline = time.monotonic() + 30
        while flaky.restart_at == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if not watched.is_set():  # no stray Ctrl-C for pytest itself if watch() failed
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, supervisor.interrupt)
    try:
        threading.Thread(target=interrupt_once_backing_off, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            supervisor.watch()
    finally:
        watched.set()
        signal.signal(signal.SIGINT, previous)
    assert flaky.restart_at > 0 and flaky.process is None
    steady_process = steady.process
    supervisor.stop()
    assert time.monotonic() - started < 20
    assert steady_process is not None and steady_process.returncode is not None


# --------------------------------------------------------------------------- `tierline run`


@dataclass
class Stack:
    """A real `tierline run` in a var/ and on ports of its own."""

    process: subprocess.Popen[bytes]
    log_file: Path
    var_dir: Path
    api: str
    inbound_smtp_port: int = 2525
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def pids(self, child: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"started {child} \(pid (\d+)\)", self.log())]

    def wait_for(self, check: Callable[[], T], what: str, timeout: float = 60) -> T:
        def checked() -> T:
            if self.process.poll() is not None:
                raise AssertionError(f"tierline run exited while waiting for {what}:\n{self.log()}")
            return check()

        try:
            return eventually(checked, what, timeout)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.log()}") from None

    def wait_for_log(self, pattern: str, count: int = 1) -> None:
        self.wait_for(lambda: len(re.findall(pattern, self.log())) >= count, repr(pattern))

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def admin(self) -> httpx.Client:
        token = (self.var_dir / "admin-token").read_text().strip()
        return httpx.Client(
            base_url=self.api, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def processes(self) -> list[int]:
        """Every live process started for this stack: they all carry its VAR_DIR."""
        marker = f"VAR_DIR={self.var_dir}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def stop(self) -> int:
        """Ctrl-C, as a person would; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def stack_env(var_dir: Path) -> dict[str, str]:
    """The environment of a stack of its own: its own directory and free ports."""
    # Nothing of the caller's configuration may point the stack at another cluster or
    # database; WORKFLOW_SANDBOX, set for every test's worker, is the one setting kept.
    settings = {name.upper() for name in Settings.model_fields} - {"WORKFLOW_SANDBOX"}
    env = {key: value for key, value in os.environ.items() if key.upper() not in settings}
    return env | {
        "VAR_DIR": str(var_dir),
        "API_PORT": str(free_port()),
        "EMBEDDED_TEMPORAL_PORT": str(free_port()),
        "EMBEDDED_TEMPORAL_UI_PORT": str(free_port()),
        "INBOUND_SMTP_PORT": str(free_port()),
        "MAIL_CATCHER_PORT": str(free_port()),
        "WORKER_METRICS_PORT": str(free_port()),
        "MAIL_METRICS_PORT": str(free_port()),
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    var_dir = tmp_path / "var"
    env = stack_env(var_dir)
    api_port = int(env["API_PORT"])
    inbound_smtp_port = int(env["INBOUND_SMTP_PORT"])
    log_file = tmp_path / "stack.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "tierline"), "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Stack(
        process, log_file, var_dir, f"http://127.0.0.1:{api_port}", inbound_smtp_port, env
    )
    try:
        running.wait_for_log("Tierline is running")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in running.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def open_case(admin: httpx.Client, organisation: str) -> int:
    created = admin.post(
        "/organisations",
        json={
            "id": organisation,
            "name": "Acme Corp",
            "plan": "us-software-002:enterprise",
            "contact_emails": ["ann@acme.example"],
        },
    )
    assert created.status_code == 201, created.text
    opened = admin.post(
        "/cases",
        json={
            "organisation": organisation,
            "company_name": "Acme Corp",
            "contact": {"name": "Ann", "email": "ann@acme.example"},
            "title": "Exports time out",
            "details": "Every export over 1,000 rows fails.",
            "severity": "high",
        },
    )
    assert opened.status_code == 201, opened.text
    number: int = opened.json()["number"]
    responded = admin.post(f"/cases/{number}/respond", json={"message": "We are on it."})
    assert responded.status_code == 200, responded.text
    return number


def assert_stops_cleanly(stack: Stack) -> None:
    assert stack.stop() == 0, stack.log()
    assert "stopped; cases and timers are kept in" in stack.log()
    assert stack.processes() == []
    # The dev server writes to its own log, its shutdown's warnings too, not to the terminal.
    assert "Temporal Server:" in (stack.var_dir / "temporal.log").read_text()
    assert "Temporal Server:" not in stack.log() and "level=WARN" not in stack.log()


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_a_listener_is_seen_on_ipv4_and_ipv6(family: socket.AddressFamily, host: str) -> None:
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket(family) as taken:
        try:
            taken.bind((host, 0))
        except OSError:
            pytest.skip(f"cannot bind {host} here")
        taken.listen()
        port = taken.getsockname()[1]
        assert in_use(host, port)
    assert not in_use(host, port)


def test_a_server_that_fails_to_start_shows_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        failing = subprocess.Popen(
            [sys.executable, "-c", "print('boot'); print('database is locked'); exit(1)"],
            stdout=out,
        )
    with pytest.raises(SystemExit) as stopped:
        wait_for_port("127.0.0.1", free_port(), failing, timeout=30, log=log)
    message = str(stopped.value)
    assert "exited with 1" in message and str(log) in message
    assert message.endswith("boot\ndatabase is locked")


@pytest.mark.parametrize("setting", ["API_PORT", "WORKER_METRICS_PORT"])
def test_a_port_in_use_stops_the_stack_before_it_starts_anything(
    tmp_path: Path, setting: str
) -> None:
    env = stack_env(tmp_path / "var")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env[setting])))
        taken.listen()
        ran = subprocess.run(
            [str(VENV_BIN / "tierline"), "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode != 0
    assert f"127.0.0.1:{env[setting]} ({setting})" in ran.stderr
    assert "started" not in ran.stdout + ran.stderr
    assert not (tmp_path / "var").exists()


def test_a_killed_worker_is_restarted_and_cases_still_open(stack: Stack) -> None:
    [worker] = stack.pids("worker")
    stack.wait_for_log(r"worker polling")
    os.kill(worker, signal.SIGKILL)
    stack.wait_for_log(
        rf"worker \(pid {worker}\) killed by SIGKILL; restarting it in "
        rf"{FIRST_RESTART_DELAY:g} s, attempt 1"
    )
    assert stack.healthy()  # the API answers while the worker is away
    stack.wait_for_log(r"started worker \(pid \d+\)", count=2)
    stack.wait_for_log(r"worker polling", count=2)
    with stack.admin() as admin:
        open_case(admin, "acme")
    assert_stops_cleanly(stack)


def test_a_killed_api_is_restarted(stack: Stack) -> None:
    [api] = stack.pids("API")
    os.kill(api, signal.SIGKILL)
    stack.wait_for_log(rf"API \(pid {api}\) killed by SIGKILL; restarting it in")
    stack.wait_for_log(r"started API \(pid \d+\)", count=2)
    stack.wait_for(stack.healthy, "/health answers again")
    with stack.admin() as admin:
        assert admin.get("/cases").status_code == 200
    assert_stops_cleanly(stack)


def test_a_killed_temporal_server_is_restarted_and_the_worker_reconnects(stack: Stack) -> None:
    [server] = stack.pids("Temporal dev server")
    [worker] = stack.pids("worker")
    os.kill(server, signal.SIGKILL)
    stack.wait_for_log(rf"Temporal dev server \(pid {server}\) killed by SIGKILL")
    stack.wait_for_log(r"started Temporal dev server \(pid \d+\)", count=2)
    stack.wait_for(stack.healthy, "/health answers again")
    with stack.admin() as admin:
        open_case(admin, "acme")
    assert stack.pids("worker") == [worker]
    assert_stops_cleanly(stack)


def test_repeated_crashes_stop_the_stack_with_an_error(stack: Stack) -> None:
    for crash in range(CRASH_LIMIT):
        stack.wait_for_log(r"started worker \(pid \d+\)", count=crash + 1)
        os.kill(stack.pids("worker")[crash], signal.SIGKILL)
    assert stack.process.wait(timeout=60) == 1, stack.log()
    log = stack.log()
    delays = [float(delay) for delay in re.findall(r"restarting it in ([\d.]+) s", log)]
    assert delays == [
        min(FIRST_RESTART_DELAY * 2**attempt, MAX_RESTART_DELAY)
        for attempt in range(CRASH_LIMIT - 1)
    ]
    assert f"worker exited {CRASH_LIMIT} times within 300 s (last killed by SIGKILL)" in log
    assert "stopped; cases and timers are kept in" in log
    assert stack.processes() == []


def test_the_banner_prints_metrics_that_serve_and_status_reads_them(stack: Stack) -> None:
    stack.wait_for_log(r"worker polling")
    printed = re.findall(
        r"metrics +(http://\S+/metrics) +\((API|worker|mail gateway):", stack.log()
    )
    endpoints = {process: url for url, process in printed}
    assert set(endpoints) == {"API", "worker", "mail gateway"}
    assert endpoints["API"] == f"{stack.api}/metrics"
    with stack.admin() as admin:
        number = open_case(admin, "acme")
        tier = admin.get(f"/cases/{number}").json()["tier"]
    scraped = {process: httpx.get(url, timeout=10) for process, url in endpoints.items()}
    assert all(response.status_code == 200 for response in scraped.values())
    assert "tierline_open_cases{" in scraped["API"].text
    assert "tierline_cases_opened_total{" in scraped["worker"].text
    assert "temporal_workflow_task_schedule_to_start_latency_bucket{" in scraped["worker"].text
    assert "tierline_mail_received_total" in scraped["mail gateway"].text

    status = subprocess.run(
        [str(VENV_BIN / "tierline"), "status", "--json"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    figures = json.loads(status.stdout)
    assert figures["open_by_tier"] == {str(tier): {"open": 1, "breached": 0}}
    assert figures["breaches_today"] == 0
    assert figures["since_worker_start"]["cases_opened"] == 1
    assert all(endpoint["error"] is None for endpoint in figures["endpoints"].values())
    text = subprocess.run(
        [str(VENV_BIN / "tierline"), "status"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0, text.stderr
    assert f"tier {tier}: 1" in text.stdout
    assert "breaches today  0" in text.stdout
    assert_stops_cleanly(stack)
