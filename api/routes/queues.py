"""Work queues per tier, nearest SLA due instant first."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import cases
from api.auth import require
from api.deps import EngineDep, Offset
from api.schemas import CaseSummary
from models.case import Role

router = APIRouter(prefix="/queues", tags=["queues"])
# Who may read the work queues (admins always may); the console's queue pages too.
QUEUE_ROLES = (Role.agent, Role.release_manager, Role.auditor)


@router.get(
    "/{tier}",
    response_model=list[CaseSummary],
    dependencies=[require(*QUEUE_ROLES)],
)
async def tier_queue(
    tier: Annotated[int, Path(ge=1, le=3)],
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[CaseSummary]:
    """Open cases of one tier ordered by the nearest SLA due instant."""
    return await asyncio.to_thread(cases.queue, engine, tier, limit, offset)
