"""Server-sent events: each case change, as it reaches the read model, to every open
screen allowed to see the case. Screens then fetch the part of the page that changed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from models.case import Role
from web import sessions
from web.console.base import PREFIX, WebUser
from web.live import CaseFeed

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# How often a stream checks that its session still exists (sign-out, revocation).
RECHECK_SECONDS = 30.0


@router.get("/events")
async def events(request: Request, me: WebUser) -> EventSourceResponse:
    feed: CaseFeed = request.app.state.feed
    engine = request.app.state.engine
    settings = request.app.state.settings
    organisation = me.user.organisation if me.user.role is Role.customer else None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with feed.subscribe(organisation) as subscriber:
            # Subscribed: the screen fetches what changed before this, then follows.
            yield ServerSentEvent(event="ready", data="{}")
            checked = time.monotonic()
            while True:
                try:
                    change = await asyncio.wait_for(subscriber.queue.get(), RECHECK_SECONDS)
                except TimeoutError:
                    change = ...  # nothing changed: only the session check
                if time.monotonic() - checked >= RECHECK_SECONDS:
                    cookie = request.cookies.get(sessions.COOKIE)
                    found = await asyncio.to_thread(
                        sessions.lookup, engine, settings, cookie, False
                    )
                    if found is None:
                        return  # signed out, revoked, idle or too old
                    checked = time.monotonic()
                if change is ...:
                    continue
                if change is None:
                    return  # fell too far behind: the browser reconnects and reloads
                data: dict[str, object] = {
                    "number": change.number,
                    "tier": change.tier,
                    "status": change.status,
                }
                if organisation is None:  # a customer's screen is not told the count
                    data["seq"] = change.seq
                yield ServerSentEvent(data=json.dumps(data), event="case")

    return EventSourceResponse(stream(), ping=15, send_timeout=30)
