"""Readiness of the parts the API depends on."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import EngineDep, TemporalDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(engine: EngineDep, client: TemporalDep) -> JSONResponse:
    """Report Temporal and database readiness; 503 when either is down."""
    checks = {"temporal": "ok", "database": "ok"}
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except Exception as err:
        checks["temporal"] = f"down: {err}"
    try:
        await asyncio.to_thread(_ping, engine)
    except Exception as err:
        checks["database"] = f"down: {err}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "degraded", **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


def _ping(engine: EngineDep) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
