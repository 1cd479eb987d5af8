"""Release operations: plan, link and unlink cases from either side, start, ship, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, NotFound
from api.limits import KeyedLimiter, update_with_retry
from api.schemas import ReleasePage, ReleaseSummary
from db.read_model import ReleaseRecord
from models.case import Actor, CaseView, case_workflow_id
from models.registry import BY_COMMAND
from models.release import (
    OPEN_RELEASE,
    LinkCaseToRelease,
    LinkRelease,
    PlanRelease,
    ReleaseStatus,
    ReleaseView,
    UnlinkCase,
    UnlinkRelease,
    release_workflow_id,
)
from workflows.release import ReleaseWorkflow


async def _update(
    client: Client,
    limiter: KeyedLimiter,
    workflow_id: str,
    update: Any,
    arg: Any,
    what: str,
    result_type: type | None = None,
) -> Any:
    handle = client.get_workflow_handle(workflow_id)

    async def call() -> Any:
        return await handle.execute_update(update, arg, result_type=result_type)

    try:
        return await update_with_retry(limiter, workflow_id, call)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise Conflict(
            cause.message if isinstance(cause, ApplicationError) else str(cause)
        ) from err
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        try:
            await handle.describe()
        except RPCError:
            raise NotFound(f"{what} does not exist") from err
        raise Conflict(f"{what} is closed") from err


async def plan(client: Client, task_queue: str, command: PlanRelease) -> ReleaseView:
    """Start the release workflow; planning the same version again returns it unchanged."""
    handle = await client.start_workflow(
        ReleaseWorkflow.run,
        command,
        id=release_workflow_id(command.version),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    view: ReleaseView = await handle.query(ReleaseWorkflow.view)
    if view.kind is not command.kind:
        raise Conflict(f"release {command.version} exists already as a {view.kind.value}")
    return view


async def read(client: Client, version: str) -> ReleaseView:
    handle = client.get_workflow_handle(release_workflow_id(version))
    for attempt in range(20):
        try:
            view: ReleaseView = await handle.query(ReleaseWorkflow.view)
            return view
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"release {version} does not exist") from err
            # A just-started worker has not polled yet ("no poller seen"): wait for it.
            if err.status != RPCStatusCode.FAILED_PRECONDITION or attempt == 19:
                raise
        await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


async def link(
    client: Client, limiter: KeyedLimiter, version: str, number: int, actor: Actor
) -> ReleaseView:
    """Link a tier-3 case: the case accepts first (409 unless tier 3), then the release;
    if the release refuses (shipped or cancelled meanwhile) the case is unlinked again.
    A release already closed to links refuses before the case is asked, so the case's
    timeline shows nothing of a link that could never hold."""
    release = await read(client, version)
    if release.status not in OPEN_RELEASE and all(c.number != number for c in release.cases):
        raise Conflict(f"release {version} is {release.status.value}")
    case: CaseView = await _update(
        client,
        limiter,
        case_workflow_id(number),
        BY_COMMAND[LinkRelease].update,
        LinkRelease(version=version, actor=actor),
        f"case {number}",
        CaseView,
    )
    command = LinkCaseToRelease(
        number=number,
        organisation=case.details.organisation,
        priority_updates=case.priority_updates,
        actor=actor,
    )
    try:
        view: ReleaseView = await _update(
            client,
            limiter,
            release_workflow_id(version),
            ReleaseWorkflow.link,
            command,
            f"release {version}",
        )
    except Conflict:
        await _update(
            client,
            limiter,
            case_workflow_id(number),
            BY_COMMAND[UnlinkRelease].update,
            UnlinkRelease(version=version, actor=actor, reason="the release refused the link"),
            f"case {number}",
            CaseView,
        )
        raise
    return view


async def unlink(
    client: Client, limiter: KeyedLimiter, version: str, number: int, actor: Actor, reason: str
) -> ReleaseView:
    view: ReleaseView = await _update(
        client,
        limiter,
        release_workflow_id(version),
        ReleaseWorkflow.unlink,
        UnlinkCase(number=number, actor=actor, reason=reason),
        f"release {version}",
    )
    await _update(
        client,
        limiter,
        case_workflow_id(number),
        BY_COMMAND[UnlinkRelease].update,
        UnlinkRelease(version=version, actor=actor, reason=reason),
        f"case {number}",
        CaseView,
    )
    return view


async def act(
    client: Client, limiter: KeyedLimiter, version: str, update: Any, command: Any
) -> ReleaseView:
    """Run a release update; shipping a shipped or cancelling a cancelled release again
    answers with the release as it is, even long after."""
    current = await read(client, version)
    done = {"ship": ReleaseStatus.shipped, "cancel": ReleaseStatus.cancelled}
    if done.get(getattr(update, "__name__", "")) is current.status:
        return current
    view: ReleaseView = await _update(
        client, limiter, release_workflow_id(version), update, command, f"release {version}"
    )
    return view


def list_releases(
    engine: Engine,
    statuses: list[ReleaseStatus] | None,
    limit: int,
    offset: int,
    newest_shipped_first: bool = False,
) -> ReleasePage:
    """A page of releases from the read model, most recently planned first (or most
    recently shipped first, the unshipped after)."""
    conditions: list[Any] = []
    if statuses:
        conditions.append(col(ReleaseRecord.status).in_([s.value for s in statuses]))
    with Session(engine) as session:
        total = session.exec(
            select(func.count()).select_from(ReleaseRecord).where(*conditions)
        ).one()
        rows = session.exec(
            select(ReleaseRecord)
            .where(*conditions)
            .order_by(
                *(
                    (col(ReleaseRecord.shipped_at).is_(None), col(ReleaseRecord.shipped_at).desc())
                    if newest_shipped_first
                    else ()
                ),
                col(ReleaseRecord.planned_at).desc(),
                col(ReleaseRecord.version),
            )
            .limit(limit)
            .offset(offset)
        ).all()
        items = [ReleaseSummary.model_validate(row, from_attributes=True) for row in rows]
    return ReleasePage(items=items, total=total, limit=limit, offset=offset)
