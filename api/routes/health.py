"""Readiness of the parts the API depends on, and of the read model's projection."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.deps import EngineDep, TemporalDep
from db.read_model import ProjectionFailure

router = APIRouter(tags=["health"])

# Failing cases named in the answer; the rest are counted.
NAMED_FAILURES = 3


@router.get("/health")
async def health(engine: EngineDep, client: TemporalDep) -> JSONResponse:
    """Report Temporal, database and projection readiness; 503 when either is down."""
    checks = {"temporal": "ok", "database": "ok"}
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except Exception as err:
        checks["temporal"] = f"down: {err}"
    try:
        failing = await asyncio.to_thread(_failing_projections, engine)
    except Exception as err:
        checks["database"] = f"down: {err}"
    else:
        if failing is not None:
            checks["projection"] = failing
    # A case whose projection fails degrades the answer but not the status code: this API
    # still serves, and no restart or rerouting by an orchestrator can mend the projection.
    serving = checks["temporal"] == "ok" and checks["database"] == "ok"
    status = "ok" if serving and "projection" not in checks else "degraded"
    return JSONResponse({"status": status, **checks}, status_code=200 if serving else 503)


def _failing_projections(engine: EngineDep) -> str | None:
    """None while every projection is written; else which cases fail, since when, why."""
    with Session(engine) as session:
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
