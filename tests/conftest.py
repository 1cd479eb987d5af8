"""Shared fixtures: real Temporal servers, real SQLite and PostgreSQL, fresh task queues."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import sys
import threading
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from db.read_model import create_schema, make_engine
from runtime import pin_time_zone_data
from workflows.search_attributes import ALL_KEYS

VENV_BIN = Path(sys.executable).parent
pin_time_zone_data()
# Every worker the tests start (in this process or a child) runs workflows in the SDK's
# sandbox, so a call in workflow code that could replay differently fails a test.
os.environ["WORKFLOW_SANDBOX"] = "true"
# The API the tests build configures the process's logging (observability.logs): at
# INFO, the lines of every server and worker the suite runs in this process would flood
# the run's output between tests. A test of the log lines sets its own level.
os.environ.setdefault("LOG_LEVEL", "WARNING")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def process_log_handler_aside() -> Iterator[None]:
    """Set the process's log handler (observability.logs) aside while a CLI command runs
    in this process: typer's CliRunner swaps sys.stderr for the whole process, so a worker
    or server thread of the test logging meanwhile would land in the command's output.
    Their records still reach pytest's own capture."""
    from observability.logs import StderrHandler

    root = logging.getLogger()
    aside = [handler for handler in root.handlers if isinstance(handler, StderrHandler)]
    for handler in aside:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in aside:
            root.addHandler(handler)


PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@functools.cache
def postgresql_missing() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can. The server must
    run at 127.0.0.1:5432 with trust auth for `postgres`; its `test` database is created
    when it is missing."""
    try:
        with make_engine(PG_URL).connect():
            return None
    except OperationalError as err:
        if 'database "test" does not exist' not in str(err):
            return f"no PostgreSQL server at 127.0.0.1:5432 ({str(err).splitlines()[0]})"
    try:
        server = make_engine(PG_SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text("CREATE DATABASE test"))
        server.dispose()
    except OperationalError as err:
        return f"cannot create database test ({str(err).splitlines()[0]})"
    return None


def require_postgresql() -> None:
    """Skip a PostgreSQL test where no server runs; in CI, where .ci/run starts one,
    fail instead, so a run never passes with half its tests unrun."""
    missing = postgresql_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {missing}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {missing}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    missing = postgresql_missing.cache_info().currsize and postgresql_missing()
    if missing:
        terminalreporter.write_line(
            f"PostgreSQL tests skipped: {missing}. Start it (README, Tests) to run them.",
            yellow=True,
        )


SEARCH_ATTRIBUTE_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type.name] for key in ALL_KEYS
            },
        )
    )


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, for SLA time that passes in seconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # The test server knows no custom search attributes until told.
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


async def start_dev_server(database_file: Path | None = None) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
        dev_server_database_filename=str(database_file) if database_file else None,
        dev_server_log_level="error",
    )


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server, for end-to-end tests."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def dev_client(dev_env: WorkflowEnvironment) -> Client:
    """A client on a namespace of its own, so case numbers never meet another test's."""
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=namespace,
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(client, namespace)
    return client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'read-model.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_engine() -> Iterator[Engine]:
    """The local PostgreSQL, in a schema of its own that is dropped afterwards."""
    require_postgresql()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        # In public, so that no test's schema owns the extension and takes it (and every
        # other schema's trigram indexes) along when it is dropped.
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL + f"?options=-csearch_path%3D{schema}")
    create_schema(engine)
    yield engine
    engine.dispose()
    drop_schema(admin, schema)
    admin.dispose()


def drop_schema(admin: Engine, schema: str) -> None:
    """Drop a test's schema even when something of the test still holds a lock in it.

    A connection left open in a transaction (a thread of the test still running, a pool the
    test made of its own) would make DROP SCHEMA wait forever, and pytest-timeout would then
    end the whole run. The DROP waits at most a few seconds; past that the sessions holding
    locks in the schema are ended, named in a warning, and the DROP is tried again.
    """
    for _attempt in range(3):
        try:
            with admin.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except OperationalError:
            with admin.begin() as connection:
                holders = connection.execute(
                    text(
                        "SELECT DISTINCT a.pid, a.state, left(a.query, 200) FROM pg_locks l"
                        " JOIN pg_class c ON c.oid = l.relation"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE n.nspname = :schema AND l.pid <> pg_backend_pid()"
                    ),
                    {"schema": schema},
                ).all()
                for pid, _state, _query in holders:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            warnings.warn(
                f"schema {schema} was still locked at teardown by {holders!r}; ended them",
                stacklevel=2,
            )
    raise RuntimeError(f"could not drop the test schema {schema}")


@pytest.fixture(params=["sqlite", "postgresql"])
def read_model(request: pytest.FixtureRequest) -> Engine:
    """Each test that takes this runs against SQLite and against PostgreSQL."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture(scope="session")
def activity_executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


# A hang around the CLI tests once took CI's 90 minutes. A worker's shutdown, which waits
# on its pollers, is the one unbounded wait in the API fixture's teardown. Each test has a
# namespace and task queue of its own, so a worker left polling can meet no later test:
# one that does not stop in time is let go, with a warning.
WORKER_SHUTDOWN_SECONDS = 60


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run the worker for the block, then shut it down within WORKER_SHUTDOWN_SECONDS."""
    await worker.__aenter__()
    try:
        yield worker
    finally:
        try:
            async with asyncio.timeout(WORKER_SHUTDOWN_SECONDS):
                await worker.__aexit__(None, None, None)
        except TimeoutError:
            warnings.warn(
                f"worker on {worker.task_queue} did not shut down within "
                f"{WORKER_SHUTDOWN_SECONDS} s; left polling",
                RuntimeWarning,
                stacklevel=2,
            )


def _ephemeral_low() -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


_PORTS = random.Random()


def free_port() -> int:
    """A port free right now, for a process started later to listen on. It is picked below
    the kernel's ephemeral range: a port the kernel handed out for binding to 0 could be
    handed out again in between, to whatever binds to 0 next (the Temporal dev server
    picks its metrics and internal ports so, and once took a worker's metrics port)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = _PORTS.randrange(10000, low) if low > 11000 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise RuntimeError("no free port below the ephemeral range")


async def serve(
    app: FastAPI, port: int | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Run the app on a real socket (a free port unless given); returns the server, its
    task and its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


class Inbox:
    """Messages a local SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, _class=EmailMessage))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on localhost (aiosmtpd) and what it received."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


class Hooks:
    """Webhook calls a local HTTP server received: (headers, body)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.failures_left = 0


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[Hooks, str]]:
    """A real HTTP server on localhost that records webhook deliveries."""
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hooks.failures_left > 0:
                hooks.failures_left -= 1
                self.send_response(503)
            else:
                hooks.calls.append((dict(self.headers), body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hooks, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()
