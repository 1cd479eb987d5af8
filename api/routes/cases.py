"""Case routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status

from api import cases
from api.deps import CatalogsDep, EngineDep, LimiterDep, SettingsDep, TemporalDep
from models.case import Actor, CaseDetails, CaseView, Role

router = APIRouter(prefix="/cases", tags=["cases"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseView)
async def open_case(
    body: CaseDetails,
    engine: EngineDep,
    client: TemporalDep,
    settings: SettingsDep,
    catalogs: CatalogsDep,
    limiter: LimiterDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Open a support case; a retry with the same Idempotency-Key returns the same case."""
    opened_by = Actor(id=str(body.contact.email), role=Role.customer)
    return await cases.open_case(
        engine, client, settings, catalogs, limiter, body, opened_by, idempotency_key
    )


@router.get("/{number}", response_model=CaseView)
async def get_case(number: int, engine: EngineDep, client: TemporalDep) -> CaseView:
    """Read one case."""
    return await cases.read_case(engine, client, number)
