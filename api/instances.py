"""Which API processes are alive: each registers itself and beats a heartbeat in the read
model, so an idempotency claim left by a process that died can be taken over at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col

from db.read_model import ApiInstance, IdempotentRequest

log = logging.getLogger("tierline.api")

HEARTBEAT_SECONDS = 5.0
# A process whose heartbeat is older than this is gone (several beats missed).
STALE_AFTER = timedelta(seconds=20)


@dataclass(frozen=True)
class Instance:
    """This API process."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def is_gone(session: Session, me: Instance, owner: str) -> bool:
    """Whether the API process `owner` has stopped: it unregistered, it ran on this host
    and its process is not running (or this process took its pid, as a restarted
    container's does), or its heartbeat stopped."""
    if owner == me.id:
        return False
    row = session.get(ApiInstance, owner)
    if row is None:
        return True
    if row.host == me.host and (row.pid == me.pid or not _pid_running(row.pid)):
        return True
    seen = row.seen_at if row.seen_at.tzinfo else row.seen_at.replace(tzinfo=UTC)
    return datetime.now(UTC) - seen > STALE_AFTER


def _register(engine: Engine, me: Instance) -> None:
    with Session(engine) as session:
        session.add(ApiInstance(id=me.id, host=me.host, pid=me.pid))
        session.commit()


def _beat(engine: Engine, me: Instance) -> None:
    with Session(engine) as session:
        session.execute(
            update(ApiInstance)
            .where(col(ApiInstance.id) == me.id)
            .values(seen_at=datetime.now(UTC))
        )
        session.commit()


def _unregister(engine: Engine, me: Instance) -> None:
    """Gone for good: drop the heartbeat, release the claims of requests that never
    answered, and forget instances that stopped long ago."""
    with Session(engine) as session:
        session.execute(
            delete(IdempotentRequest)
            .where(col(IdempotentRequest.owner) == me.id)
            .where(col(IdempotentRequest.status_code).is_(None))
        )
        session.execute(delete(ApiInstance).where(col(ApiInstance.id) == me.id))
        session.execute(
            delete(ApiInstance).where(
                col(ApiInstance.seen_at) < datetime.now(UTC) - timedelta(days=1)
            )
        )
        session.commit()


@contextlib.asynccontextmanager
async def registered(engine: Engine) -> AsyncIterator[Instance]:
    """This process as a live API instance for as long as the context lasts."""
    me = Instance()
    await asyncio.to_thread(_register, engine, me)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await asyncio.to_thread(_beat, engine, me)
            except Exception as err:  # the database is down: /health says so
                log.warning("API heartbeat not recorded: %s", err)

    task = asyncio.create_task(heartbeat())
    try:
        yield me
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(_unregister, engine, me)
