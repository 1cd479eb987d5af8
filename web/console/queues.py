"""Queues: a tier's open cases, nearest SLA due first, with live countdowns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session, col, select
from starlette.responses import HTMLResponse, Response

from api import cases
from api.cases import QueueRow
from api.deps import Offset
from db.read_model import Organisation, User
from models.case import Role
from policies.format import Catalog
from web.console.base import PREFIX, QUEUE_ROLES, WebUser, allow, page, severity_name

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
Text = Annotated[str | None, Query(max_length=200)]


@dataclass(frozen=True)
class Choices:
    """What the filters offer: every organisation, severity and agent, by id and name."""

    organisations: list[tuple[str, str]]
    severities: list[tuple[str, str]]
    agents: list[tuple[str, str]]


def severity_names(request: Request) -> dict[str, str]:
    """Each severity id by name where the loaded catalogs name it alike, else by id and
    every name it has (`sev1 (Critical / Severity 1 (Urgent))`)."""
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    names: dict[str, set[str]] = {}
    for catalog in catalogs.values():
        for level in catalog.severities:
            names.setdefault(level.id, set()).add(level.name)
    return {
        level: next(iter(called)) if len(called) == 1 else f"{level} ({' / '.join(sorted(called))})"
        for level, called in names.items()
    }


def row_severity_names(request: Request, rows: list[QueueRow]) -> dict[int, str]:
    """Each row's severity as its case's catalog names it (catalogs differ: `sev1` is
    "Severity 1 (Urgent)" in one and "Critical" in another)."""
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    named = {}
    for row in rows:
        name = severity_name(catalogs.get(row.catalog or ""), row.summary.severity)
        if name is not None:
            named[row.summary.number] = name
    return named


def _choices(request: Request, names: dict[str, str]) -> Choices:
    with Session(request.app.state.engine) as session:
        organisations = session.exec(
            select(Organisation.id, Organisation.name).order_by(col(Organisation.name))
        ).all()
        agents = session.exec(
            select(User.id, User.name).where(User.role == Role.agent.value).order_by(col(User.id))
        ).all()
    return Choices(
        [(row[0], row[1]) for row in organisations],
        sorted(names.items()),
        [(row[0], row[1]) for row in agents],
    )


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
        "severity_names": severity_names(request),
        "row_severity": row_severity_names(request, rows),
    }
    if part == "rows":
        return page(request, me, "console/_queue_rows.html", **context)
    choices = await asyncio.to_thread(_choices, request, context["severity_names"])
    return page(request, me, "console/queue.html", choices=choices, **context)
