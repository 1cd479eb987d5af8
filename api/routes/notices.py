"""Notice routes: scheduled outages and business-continuity updates to organisations."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api import notices
from api.auth import CurrentUser, require
from api.deps import MAX_ID, CatalogsDep, EngineDep, Offset, SettingsDep, TemporalDep
from api.idempotency import IDEMPOTENT
from api.schemas import NoticeCreate, NoticePage, NoticeRead
from models.case import Role
from models.notice import NoticeKind

router = APIRouter(prefix="/notices", tags=["notices"])
NoticeId = Annotated[int, Path(ge=1, le=MAX_ID, description="The notice's id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NoticeRead,
    dependencies=[require(Role.agent), IDEMPOTENT],
)
async def send_notice(
    body: NoticeCreate,
    user: CurrentUser,
    engine: EngineDep,
    client: TemporalDep,
    settings: SettingsDep,
    catalogs: CatalogsDep,
) -> NoticeRead:
    """Send a notice to the affected organisations' contacts, each message once."""
    task_queue = settings.temporal_task_queue
    return await notices.send(engine, client, task_queue, catalogs, body, user.actor)


@router.get("", response_model=NoticePage)
async def list_notices(
    user: CurrentUser,
    engine: EngineDep,
    kind: NoticeKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> NoticePage:
    """List notices, newest first; customers see those addressed to their organisation."""
    organisation = user.organisation if user.role is Role.customer else None
    return await asyncio.to_thread(notices.list_notices, engine, organisation, kind, limit, offset)


@router.get("/{notice_id}", response_model=NoticeRead)
async def get_notice(notice_id: NoticeId, user: CurrentUser, engine: EngineDep) -> NoticeRead:
    """One notice with the status of every message it sent."""
    organisation = user.organisation if user.role is Role.customer else None
    return await asyncio.to_thread(notices.read, engine, notice_id, organisation)
