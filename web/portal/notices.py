"""Notices addressed to the organisation: scheduled outages and business-continuity
updates, those that hold now or are coming on top, past ones after."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse, Response

from api import notices
from api.deps import MAX_ID, Offset
from api.schemas import NoticeSummary
from web.portal.base import PREFIX, CustomerDep, page
from web.render import aware

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# The API's largest page: an organisation's notices are read a page at a time, newest
# first, and each page sorted by when they hold.
PAGE_SIZE = 200


def _aware(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


@dataclass
class Sorted:
    now: list[NoticeSummary] = field(default_factory=list)  # the window holds now
    coming: list[NoticeSummary] = field(default_factory=list)  # the window starts later
    updates: list[NoticeSummary] = field(default_factory=list)  # no window: newest first
    past: list[NoticeSummary] = field(default_factory=list)  # the window has ended


def sort(items: list[NoticeSummary], now: datetime) -> Sorted:
    """Each notice by where its window stands at `now`."""
    found = Sorted()
    for item in items:
        starts, ends = _aware(item.starts_at), _aware(item.ends_at)
        if ends is not None and ends <= now:
            found.past.append(item)
        elif starts is not None and starts > now:
            found.coming.append(item)
        elif starts is not None:
            found.now.append(item)
        else:
            found.updates.append(item)
    found.now.sort(key=lambda n: _aware(n.ends_at) or datetime.max.replace(tzinfo=UTC))
    found.coming.sort(key=lambda n: _aware(n.starts_at) or now)
    found.past.sort(key=lambda n: _aware(n.ends_at) or now, reverse=True)
    return found


@router.get("/notices", response_class=HTMLResponse)
async def notice_list(request: Request, who: CustomerDep, offset: Offset = 0) -> Response:
    """The organisation's notices: now and coming, then updates, then past ones."""
    found = await asyncio.to_thread(
        notices.list_notices, request.app.state.engine, who.organisation.id, None, PAGE_SIZE, offset
    )
    return page(
        request,
        who,
        "portal/notices.html",
        notices=sort(found.items, datetime.now(UTC)),
        total=found.total,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
async def notice(
    request: Request, who: CustomerDep, notice_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """One notice; one not addressed to the organisation is 404, as in the API."""
    found = await asyncio.to_thread(
        notices.read, request.app.state.engine, notice_id, who.organisation.id
    )
    return page(request, who, "portal/notice.html", notice=found)
