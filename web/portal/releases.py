"""Releases as a customer sees them: the notes of shipped releases that fixed the
organisation's cases (their own cases only, never another organisation's), and the newest
shipped releases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.responses import HTMLResponse, Response
from temporalio.client import Client

from api import releases
from api.errors import NotFound
from api.schemas import ReleaseSummary
from db.read_model import CaseEventRecord, CaseRecord, ReleaseRecord
from models.registry import EventKind
from models.release import ReleaseStatus
from web.portal.base import PREFIX, CustomerDep, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FIXING = 20  # releases that fixed the organisation's cases, newest first
NEWEST = 10


@dataclass(frozen=True)
class FixedCase:
    number: int
    title: str
    shipped_at: datetime


@dataclass(frozen=True)
class Fix:
    """A shipped release and the organisation's cases it fixed, with its notes."""

    release: ReleaseSummary | None
    version: str
    cases: list[FixedCase]
    notes: str = ""


@dataclass(frozen=True)
class Newest:
    """A shipped release and its notes (what is new in it)."""

    release: ReleaseSummary
    notes: str


def fixed(engine: Engine, organisation: str) -> dict[str, list[FixedCase]]:
    """The organisation's cases each shipped release resolved, newest release first, as
    the cases' own timelines recorded the shipping."""
    with Session(engine) as session:
        rows = session.exec(
            select(
                CaseEventRecord.case_number,
                CaseEventRecord.data,
                CaseEventRecord.at,
                CaseRecord.title,
            )
            .join(CaseRecord, col(CaseRecord.number) == col(CaseEventRecord.case_number))
            .where(CaseEventRecord.kind == EventKind.release_shipped.value)
            .where(CaseRecord.organisation == organisation)
            .order_by(col(CaseEventRecord.at).desc())
        ).all()
    found: dict[str, list[FixedCase]] = {}
    for number, data, at, title in rows:
        version = data.get("release")
        if not isinstance(version, str):
            continue
        if version not in found and len(found) >= FIXING:
            continue
        found.setdefault(version, []).append(FixedCase(number, title, at))
    return found


def summaries(engine: Engine, versions: list[str]) -> dict[str, ReleaseSummary]:
    with Session(engine) as session:
        rows = session.exec(
            select(ReleaseRecord).where(col(ReleaseRecord.version).in_(versions))
        ).all()
        return {
            row.version: ReleaseSummary.model_validate(row, from_attributes=True) for row in rows
        }


async def _notes(client: Client, version: str) -> str:
    """The release's own notes (its text only: the API's release notes also list every
    organisation's cases, which are not this customer's to read)."""
    try:
        return (await releases.read(client, version)).notes
    except NotFound:
        return ""


@router.get("/releases", response_class=HTMLResponse)
async def release_list(request: Request, who: CustomerDep) -> Response:
    """Releases that fixed the organisation's cases, and the newest shipped releases."""
    engine, client = request.app.state.engine, request.app.state.temporal
    by_version = await asyncio.to_thread(fixed, engine, who.organisation.id)
    versions = list(by_version)
    known = await asyncio.to_thread(summaries, engine, versions)
    notes = await asyncio.gather(*(_notes(client, version) for version in versions))
    fixes = [
        Fix(known.get(version), version, by_version[version], text)
        for version, text in zip(versions, notes, strict=True)
    ]
    newest = await asyncio.to_thread(
        releases.list_releases, engine, [ReleaseStatus.shipped], NEWEST, 0, True
    )
    newest_notes = await asyncio.gather(*(_notes(client, r.version) for r in newest.items))
    shipped = [Newest(r, text) for r, text in zip(newest.items, newest_notes, strict=True)]
    return page(request, who, "portal/releases.html", fixes=fixes, newest=shipped)
