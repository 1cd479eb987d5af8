"""Queues: a tier's open cases, nearest SLA due first, with live countdowns."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session, col, select
from starlette.responses import HTMLResponse, Response

from api import cases
from api.deps import Offset
from db.read_model import Organisation
from web.console.base import PREFIX, QUEUE_ROLES, WebUser, allow, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
Text = Annotated[str | None, Query(max_length=200)]


def _organisations(request: Request) -> list[tuple[str, str]]:
    with Session(request.app.state.engine) as session:
        rows = session.exec(
            select(Organisation.id, Organisation.name).order_by(col(Organisation.name))
        ).all()
    return [(row[0], row[1]) for row in rows]


@router.get("/queues/{tier}", response_class=HTMLResponse)
async def queue(
    request: Request,
    me: WebUser,
    tier: Annotated[int, Path(ge=1, le=3)],
    organisation: Text = None,
    severity: Text = None,
    assignee: Text = None,
    breached: Annotated[str | None, Query(pattern="^(|yes|no)$")] = None,
    q: Text = None,
    offset: Offset = 0,
    part: Annotated[str | None, Query(pattern="^rows$")] = None,
) -> Response:
    """The tier's open cases; `part=rows` answers the table body alone (the live update)."""
    allow(me, QUEUE_ROLES)
    filters = cases.CaseFilters(
        tier=tier,
        organisation=organisation or None,
        severity=severity or None,
        assignee=assignee or None,
        breached={"yes": True, "no": False}.get(breached or ""),
        text=q or None,
    )
    engine = request.app.state.engine
    rows, total, capped = await asyncio.to_thread(
        cases.queue_page, engine, filters, PAGE_SIZE, offset
    )
    query = {
        "organisation": organisation or "",
        "severity": severity or "",
        "assignee": assignee or "",
        "breached": breached or "",
        "q": q or "",
    }
    context: dict[str, Any] = {
        "tier": tier,
        "rows": rows,
        "total": total,
        "capped": capped,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "query": query,
    }
    if part == "rows":
        return page(request, me, "console/_queue_rows.html", **context)
    organisations = await asyncio.to_thread(_organisations, request)
    return page(request, me, "console/queue.html", organisations=organisations, **context)
