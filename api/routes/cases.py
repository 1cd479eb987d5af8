"""Case routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status

from api import cases
from api.deps import SessionDep, SettingsDep, TemporalDep
from models.case import CaseDetails, CaseView

router = APIRouter(prefix="/cases", tags=["cases"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseView)
async def open_case(
    body: CaseDetails,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Open a support case; a retry with the same Idempotency-Key returns the same case."""
    number = cases.allocate_number(session, idempotency_key)
    return await cases.start_case(
        client, settings.temporal_task_queue, number, body, opened_by="api"
    )


@router.get("/{number}", response_model=CaseView)
async def get_case(number: int, session: SessionDep, client: TemporalDep) -> CaseView:
    """Read one case."""
    return await cases.read_case(session, client, number)
