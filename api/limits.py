"""Keeping a workflow's in-flight updates under the server's limit of ten."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

# Below the server's 10 so that a few other API processes fit beside this one.
PER_WORKFLOW_IN_FLIGHT = 6
RETRYABLE = {RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE}


class KeyedLimiter:
    """One semaphore per workflow id, dropped when nobody waits on it."""

    def __init__(self, size: int = PER_WORKFLOW_IN_FLIGHT) -> None:
        self._size = size
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(key, (asyncio.Semaphore(self._size), 0))
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users == 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)


async def update_with_retry(
    limiter: KeyedLimiter, workflow_id: str, call: Callable[[], Awaitable[T]], attempts: int = 8
) -> T:
    """Run an update call within the per-workflow limit, retrying while the server is busy
    (other API processes share the limit). Safe because every update call is idempotent."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            async with limiter.hold(workflow_id):
                return await call()
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            status = getattr(err, "status", RPCStatusCode.UNAVAILABLE)
            if status not in RETRYABLE or attempt == attempts - 1:
                raise
        await asyncio.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")
