"""/health reports a case whose projection the database refuses, while it does: a real
worker, the dev server, SQLite and PostgreSQL refusing the write for real."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from db.read_model import ProjectionFailure
from models.case import case_workflow_id
from tests.activities.refusals import refusing
from tests.api.conftest import Api
from tests.builders import open_case
from workflows.case import CaseStart, CaseWorkflow

GREEN = {"status": "ok", "temporal": "ok", "database": "ok"}
TIMEOUT = 60.0


async def eventually(check: Callable[[], Awaitable[Any]], within: float = TIMEOUT) -> Any:
    """Poll `check` until it returns something true."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def test_a_failing_projection_degrades_health_until_it_is_written(
    api: Api, dev_client: Client, read_model: Engine, task_queue: str
) -> None:
    number = 9001
    assert (await api.anonymous.get("/health")).json() == GREEN

    async def failing() -> dict[str, Any] | None:
        body: dict[str, Any] = (await api.anonymous.get("/health")).json()
        return body if "projection" in body else None

    async def green() -> bool:
        response = await api.anonymous.get("/health")
        return response.status_code == 200 and response.json() == GREEN

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
            response = await api.anonymous.get("/health")
            assert response.status_code == 200  # the API serves; no restart can mend this
            assert body["status"] == "degraded"
            assert (body["temporal"], body["database"]) == ("ok", "ok")
            assert body["projection"].startswith(f"failing: 1 case (case {number} seq ")
            assert "refused by the test" in body["projection"]
            assert (await api.bob.get(f"/cases/{number}")).status_code == 404

        # The trigger is gone: the next retry writes the case and clears the failure.
        await eventually(green)
        assert (await api.bob.get(f"/cases/{number}")).status_code == 200
    finally:
        if handle is not None:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")


async def test_health_names_the_oldest_failures_and_counts_the_rest(
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

    response = await api.anonymous.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        **GREEN,
        "status": "degraded",
        "projection": "failing: 5 cases ("
        "case 1 seq 2 since 2026-12-01T08:01:00Z, 1 attempt: DataError: refused; "
        "case 2 seq 2 since 2026-12-01T08:02:00Z, 2 attempts: DataError: refused; "
        "case 3 seq 2 since 2026-12-01T08:03:00Z, 3 attempts: DataError: refused; "
        "2 more)",
    }
