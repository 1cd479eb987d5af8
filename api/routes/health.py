"""Liveness (`/health`) and readiness (`/ready`) for orchestrators and operators."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.deps import EngineDep, SettingsDep, TemporalDep
from db.read_model import MIGRATIONS, ProjectionFailure, describe_error

router = APIRouter(tags=["health"])

T = TypeVar("T")

# Failing cases named in the answer; the rest are counted.
NAMED_FAILURES = 3
# Each check's limit; they run side by side, so /ready answers within about this long.
CHECK_TIMEOUT = 2.0
# A worker long-polls for a minute at most, then polls again: one whose last poll is older
# than this has stopped.
POLLED_WITHIN = timedelta(minutes=2)
# The database checks run here, not on the thread pool the routes share: a database that
# hangs holds up at most these threads, and a probe every few seconds cannot pile up more.
_database_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ready")


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the API process serves. Touches nothing else; see /ready."""
    return {"status": "ok"}


class Readiness(BaseModel):
    """What /ready found: each check's state, "ok" or why not."""

    status: Literal["ok", "degraded", "unavailable"]
    failing: list[str] = Field(default=[], description="The checks that fail (with 503)")
    temporal: str
    database: str
    migrations: str = Field(description="Whether the read model is at the migrations' head")
    worker: str = Field(description="Whether a worker polled the task queue lately")
    projection: str | None = Field(
        default=None, description="The cases whose projection fails, while any does"
    )


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `failing` says why"}},
)
async def ready(engine: EngineDep, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Temporal, database, migrations at head, a worker polling; 503 names what fails."""
    checks = await readiness(engine, client, settings.temporal_task_queue)
    failing = [name for name, state in checks.items() if name != "projection" and state != "ok"]
    # A case whose projection fails degrades the answer but not the status code: this API
    # still serves, and no restart or rerouting by an orchestrator can mend the projection.
    status = "unavailable" if failing else "degraded" if "projection" in checks else "ok"
    answer = Readiness.model_validate({"status": status, "failing": failing, **checks})
    return JSONResponse(answer.model_dump(exclude_defaults=True), 503 if failing else 200)


async def readiness(engine: Engine, client: Client, task_queue: str) -> dict[str, str]:
    """Each check's state, "ok" or why not, run side by side; "projection" only while one
    fails."""
    temporal, read_model, worker = await asyncio.gather(
        _checked(_temporal(client)),
        _checked(_in_thread(_read_model, engine)),
        _checked(_worker(client, task_queue)),
    )
    if isinstance(read_model, str):
        database, migrations, failing = read_model, "not checked: the database is down", None
    else:
        database, (migrations, failing) = "ok", read_model
    checks = {
        "temporal": temporal,
        "database": database,
        "migrations": migrations,
        "worker": worker,
    }
    return checks if failing is None else {**checks, "projection": failing}


async def _checked(check: Awaitable[T]) -> T | str:
    """The check's answer, or why it failed: an error, or no answer within CHECK_TIMEOUT."""
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return f"down: no answer within {CHECK_TIMEOUT:g} s"
    except Exception as err:
        return f"down: {describe_error(err)}"


async def _in_thread(function: Callable[[Engine], T], engine: Engine) -> T:
    return await asyncio.get_running_loop().run_in_executor(_database_threads, function, engine)


async def _temporal(client: Client) -> str:
    serving = await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))
    return "ok" if serving else "down: the frontend reports not serving"


async def _worker(client: Client, task_queue: str) -> str:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=CHECK_TIMEOUT),
    )
    since = datetime.now(UTC) - POLLED_WITHIN
    if any(p.last_access_time.ToDatetime(UTC) >= since for p in described.pollers):
        return "ok"
    minutes = POLLED_WITHIN.total_seconds() / 60
    return f"down: no worker polled task queue {task_queue} in the last {minutes:g} minutes"


@functools.cache
def migration_heads() -> frozenset[str]:
    """The revisions the migration scripts end in (one, unless they branch)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _read_model(engine: Engine) -> tuple[str, str | None]:
    """Whether the read model is at the migrations' head, and its failing projections."""
    with Session(engine) as session:
        current = frozenset(MigrationContext.configure(session.connection()).get_current_heads())
        if current != migration_heads():
            at = ", ".join(sorted(current)) or "no revision"
            head = ", ".join(sorted(migration_heads()))
            return f"not at head: the database is at {at}, the migrations' head is {head}", None
        return "ok", _failing_projections(session)


def _failing_projections(session: Session) -> str | None:
    """None while every projection is written; else which cases fail, since when, why."""
    count = session.exec(select(func.count()).select_from(ProjectionFailure)).one()
    if not count:
        return None
    oldest = session.exec(
        select(ProjectionFailure)
        .order_by(col(ProjectionFailure.first_failed_at))
        .limit(NAMED_FAILURES)
    ).all()
    named = [
        f"case {f.case_number} seq {f.seq} since {f.first_failed_at:%Y-%m-%dT%H:%M:%SZ}, "
        f"{f.attempts} attempt{'s' if f.attempts != 1 else ''}: {f.error}"
        for f in oldest
    ]
    if count > len(oldest):
        named.append(f"{count - len(oldest)} more")
    return f"failing: {count} case{'s' if count != 1 else ''} ({'; '.join(named)})"
