"""Driving case workflows on the time-skipping server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.case import CaseView, OpenCase, case_workflow_id
from models.clocks import ClockName, ClockView
from workflows.case import CaseStart, CaseWorkflow

CaseHandle = WorkflowHandle[CaseWorkflow, CaseView]

# Cases a test started; `terminate_started` ends those still running, because the
# time-skipping server will not skip time while a case without a worker has work due.
STARTED: list[WorkflowHandle[Any, Any]] = []


async def terminate_started() -> None:
    for handle in STARTED:
        with contextlib.suppress(RPCError):  # already completed
            await handle.terminate("test finished")
    STARTED.clear()


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """Let virtual time pass until `instant` (timers due by then fire)."""
    delta = instant - await env.get_current_time()
    if delta > timedelta(0):
        await env.sleep(delta)


async def start(client: Client, command: OpenCase, task_queue: str) -> CaseHandle:
    handle = await client.start_workflow(
        CaseWorkflow.run,
        CaseStart(open=command),
        id=case_workflow_id(command.number),
        task_queue=task_queue,
    )
    STARTED.append(handle)
    await handle.execute_update(CaseWorkflow.opened)
    return handle


async def view_when(
    handle: CaseHandle, predicate: Callable[[CaseView], bool], within: float = 10.0
) -> CaseView:
    """The case's view once `predicate` holds (the worker may still be recording)."""
    async with asyncio.timeout(within):
        while True:
            view = await handle.query(CaseWorkflow.view)
            if predicate(view):
                return view
            await asyncio.sleep(0.05)


def clock(view: CaseView, name: ClockName) -> ClockView:
    return next(c for c in view.clocks if c.name is name)
