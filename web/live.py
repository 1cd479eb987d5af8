"""The live feed: which cases changed, pushed to every open screen.

One poller per API process reads the case rows the projection wrote since it last looked
(`cases.projected_at`, indexed), every `POLL_SECONDS` while anyone listens, and hands each
change to every subscriber that may see the case. A change anywhere (an agent on another
API process, a mail, a timer firing in the worker) reaches the read model first, so this
one place sees them all, on either database. The look back overlaps by `OVERLAP` (rows
committed late with an earlier instant are still found); a (case, seq) already sent is
not sent again.

Staff screens hear of every change. A customer's hear only of changes they may see (the
case's `public_changed_at` moved, within the look back): an internal note, an assignment
or a clock event would otherwise tell them when the support team works on their case, if
not what it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from db.read_model import CaseRecord, utcnow

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2
OVERLAP = timedelta(seconds=2)
# A screen that reads slower than this many changes behind is dropped (it reconnects).
QUEUE_SIZE = 1000
BATCH = 1000


@dataclass(frozen=True)
class Change:
    number: int
    seq: int
    organisation: str
    tier: int
    status: str
    # Whether the part the case's customer sees changed.
    public: bool = True


@dataclass(eq=False)
class Subscriber:
    organisation: str | None  # None: every organisation (staff)
    queue: asyncio.Queue[Change | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )


class CaseFeed:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._since: datetime | None = None
        # Per case: the seq last sent, when its public part had last changed then, and
        # when the row was written.
        self._sent: dict[int, tuple[int, datetime | None, datetime]] = {}

    @contextlib.asynccontextmanager
    async def subscribe(self, organisation: str | None):  # type: ignore[no-untyped-def]
        subscriber = Subscriber(organisation)
        self._subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._since = utcnow()
            self._task = asyncio.create_task(self._run(), name="case-feed")
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._subscribers:
            try:
                changes = await asyncio.to_thread(self._poll)
            except Exception:  # the database is away: say so and keep trying
                log.exception("the live feed could not read the case rows")
                changes = []
            for change in changes:
                self._publish(change)
            await asyncio.sleep(POLL_SECONDS)

    def _poll(self) -> list[Change]:
        assert self._since is not None
        since = self._since - OVERLAP
        with Session(self._engine) as session:
            rows = session.exec(
                select(  # type: ignore[call-overload]
                    CaseRecord.number,
                    CaseRecord.seq,
                    CaseRecord.organisation,
                    CaseRecord.tier,
                    CaseRecord.status,
                    CaseRecord.projected_at,
                    CaseRecord.public_changed_at,
                )
                .where(col(CaseRecord.projected_at) >= since)
                .order_by(col(CaseRecord.projected_at))
                .limit(BATCH)
            ).all()
        changes = []
        newest = self._since
        for number, seq, organisation, tier, status, at, public_at in rows:
            if at is None:
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=newest.tzinfo)
            if public_at is not None and public_at.tzinfo is None:
                public_at = public_at.replace(tzinfo=newest.tzinfo)
            newest = max(newest, at)
            sent = self._sent.get(number)
            if sent is not None and sent[0] >= seq:
                continue
            # Public when it moved within this look back and since the last change sent.
            public = (
                public_at is not None
                and public_at >= since
                and (sent is None or sent[1] is None or public_at > sent[1])
            )
            self._sent[number] = (seq, public_at, at)
            changes.append(Change(number, seq, organisation, tier, status, public))
        self._since = newest
        # What fell out of the look back cannot come again: forget it.
        horizon = newest - OVERLAP * 2
        if len(self._sent) > BATCH:
            self._sent = {n: s for n, s in self._sent.items() if s[2] >= horizon}
        return changes

    def _publish(self, change: Change) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.organisation is not None and (
                subscriber.organisation != change.organisation or not change.public
            ):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                self._subscribers.discard(subscriber)
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.queue.get_nowait()
                    subscriber.queue.put_nowait(None)  # tells the stream to end
