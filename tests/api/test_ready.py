"""/ready says whether this API can serve, check by check, on real parts: the dev server,
a real worker polling (or none), SQLite and PostgreSQL, a version table stamped back, a
database that does not answer, a Temporal server that went away; and the projection
failures it reports while the database refuses a case's projection for real."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlmodel import Session
from temporalio.client import Client

from api.app import create_app
from api.routes.health import CHECK_TIMEOUT, migration_heads
from db.read_model import MIGRATIONS, ProjectionFailure
from models.case import case_workflow_id
from settings import Settings
from tests.activities.refusals import refusing
from tests.api.conftest import Api
from tests.builders import open_case
from tests.conftest import running, serve, start_dev_server
from worker import build_worker
from workflows.case import CaseStart, CaseWorkflow

READY = {
    "status": "ok",
    "temporal": "ok",
    "database": "ok",
    "migrations": "ok",
    "worker": "ok",
}
TIMEOUT = 60.0


async def eventually(check: Callable[[], Awaitable[Any]], within: float = TIMEOUT) -> Any:
    """Poll `check` until it returns something true."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def ready_answer(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/ready")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def until_ready(http: httpx.AsyncClient) -> dict[str, Any]:
    """The body of /ready once it answers 200 (a worker just started may not have polled)."""

    async def answer() -> dict[str, Any] | None:
        status, body = await ready_answer(http)
        return body if status == 200 else None

    body: dict[str, Any] = await eventually(answer)
    return body


def api_settings(client: Client, database_url: str, var_dir: Path, task_queue: str) -> Settings:
    return Settings(
        var_dir=var_dir,
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        temporal_task_queue=task_queue,
        database_url=database_url,
        webhook_secret="ready-tests",
    )


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API of its own with these settings, on real HTTP."""
    server, task, base_url = await serve(create_app(settings))
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


async def test_ready_when_every_part_is(api: Api) -> None:
    assert await until_ready(api.anonymous) == READY


async def test_no_worker_polling_the_task_queue_is_not_ready_until_one_polls(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
) -> None:
    url = read_model.url.render_as_string(hide_password=False)
    async with served(api_settings(dev_client, url, tmp_path / "var", task_queue)) as http:
        status, body = await ready_answer(http)
        assert status == 503
        assert body == {
            **READY,
            "status": "unavailable",
            "failing": ["worker"],
            "worker": f"down: no worker polled task queue {task_queue} in the last 2 minutes",
        }

        worker = build_worker(dev_client, read_model, task_queue, activity_executor)
        async with running(worker):
            assert await until_ready(http) == READY


def previous_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    [head] = migration_heads()
    down = ScriptDirectory.from_config(config).get_revision(head).down_revision
    assert isinstance(down, str)
    return down


def stamp(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


async def test_a_database_behind_the_migrations_is_not_ready(api: Api, read_model: Engine) -> None:
    await until_ready(api.anonymous)
    [head], previous = migration_heads(), previous_revision()
    stamp(read_model, previous)
    try:
        status, body = await ready_answer(api.anonymous)
    finally:
        stamp(read_model, head)
    assert status == 503
    assert body == {
        **READY,
        "status": "unavailable",
        "failing": ["migrations"],
        "migrations": f"not at head: the database is at {previous}, the migrations' head is {head}",
    }
    assert await ready_answer(api.anonymous) == (200, READY)


async def test_a_database_that_does_not_answer_is_not_ready_within_the_timeout(
    api: Api, read_model: Engine
) -> None:
    if read_model.dialect.name != "postgresql":
        pytest.skip("SQLite in WAL mode lets readers through any writer's lock")
    await until_ready(api.anonymous)
    # Held in a transaction of its own: the check's read of the version table waits on it.
    with read_model.connect() as holder, holder.begin():
        holder.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        status, body = await ready_answer(api.anonymous)
        took = time.monotonic() - started
    assert took < CHECK_TIMEOUT + 2
    assert status == 503
    assert body == {
        **READY,
        "status": "unavailable",
        "failing": ["database", "migrations"],
        "database": f"down: no answer within {CHECK_TIMEOUT:g} s",
        "migrations": "not checked: the database is down",
    }
    assert await until_ready(api.anonymous) == READY


async def test_temporal_gone_is_not_ready_but_the_api_is_alive(tmp_path: Path) -> None:
    env = await start_dev_server()
    shut_down = False
    try:
        database = f"sqlite:///{tmp_path / 'read-model.db'}"
        settings = api_settings(env.client, database, tmp_path / "var", "tq-nobody")
        async with served(settings) as http:
            await env.shutdown()
            shut_down = True
            started = time.monotonic()
            status, body = await ready_answer(http)
            assert time.monotonic() - started < CHECK_TIMEOUT + 2
            assert status == 503
            assert body["failing"] == ["temporal", "worker"]
            assert body["temporal"].startswith("down: ")
            assert body["worker"].startswith("down: ")
            assert (body["database"], body["migrations"]) == ("ok", "ok")
            health = await http.get("/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
    finally:
        if not shut_down:
            await env.shutdown()


async def test_a_failing_projection_degrades_readiness_until_it_is_written(
    api: Api, dev_client: Client, read_model: Engine, task_queue: str
) -> None:
    number = 9001
    assert await until_ready(api.anonymous) == READY

    async def failing() -> dict[str, Any] | None:
        _, body = await ready_answer(api.anonymous)
        return body if "projection" in body else None

    async def ready() -> bool:
        return await ready_answer(api.anonymous) == (200, READY)

    handle = None
    try:
        with refusing(read_model, "case_events", "INSERT"):
            handle = await dev_client.start_workflow(
                CaseWorkflow.run,
                CaseStart(open=open_case(number, "short-sla:fast", datetime.now(UTC))),
                id=case_workflow_id(number),
                task_queue=task_queue,
            )
            body = await eventually(failing)
            response = await api.anonymous.get("/ready")
            assert response.status_code == 200  # the API serves; no restart can mend this
            assert body["status"] == "degraded"
            assert {name: body[name] for name in READY if name != "status"} == {
                name: "ok" for name in READY if name != "status"
            }
            assert body["projection"].startswith(f"failing: 1 case (case {number} seq ")
            assert "refused by the test" in body["projection"]
            assert (await api.bob.get(f"/cases/{number}")).status_code == 404

        # The trigger is gone: the next retry writes the case and clears the failure.
        await eventually(ready)
        assert (await api.bob.get(f"/cases/{number}")).status_code == 200
    finally:
        if handle is not None:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")


async def test_ready_names_the_oldest_failures_and_counts_the_rest(
    api: Api, read_model: Engine
) -> None:
    since = datetime(2026, 12, 1, 8, tzinfo=UTC)
    with Session(read_model) as session:
        for number in range(1, 6):
            session.add(
                ProjectionFailure(
                    case_number=number,
                    seq=2,
                    error="DataError: refused",
                    attempts=number,
                    first_failed_at=since + timedelta(minutes=number),
                )
            )
        session.commit()

    assert await until_ready(api.anonymous) == {
        **READY,
        "status": "degraded",
        "projection": "failing: 5 cases ("
        "case 1 seq 2 since 2026-12-01T08:01:00Z, 1 attempt: DataError: refused; "
        "case 2 seq 2 since 2026-12-01T08:02:00Z, 2 attempts: DataError: refused; "
        "case 3 seq 2 since 2026-12-01T08:03:00Z, 3 attempts: DataError: refused; "
        "2 more)",
    }
