"""Idempotency-Key for every POST: the first answer is stored and replayed to retries.

A pure ASGI middleware, so no route needs code of its own. A POST carrying the header is
keyed by (caller, method and path, key). The first request claims the key; a retry with
the same body gets the stored answer (header `Idempotent-Replayed: true`) and changes
nothing; the same key with another body is 422; a retry while the first still runs
waits for its answer (409 if that takes longer than 25 s). Only successful answers are
kept: after an error nothing changed, so the key is released and a retry runs again.
Case opens and actions keep their own workflow-level keys underneath, so even a claim
lost in a crash cannot open or act twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import read_body, replaying
from api.auth import digest
from api.errors import PROBLEM_JSON, problem_body
from api.instances import Instance, is_gone
from db.read_model import ApiToken, IdempotentRequest
from observability.metrics import idempotent_replays

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200
# A claim recorded without its owner (before owners were recorded) is taken over once
# it is this old; one with an owner as soon as that API process is gone (api.instances).
ABANDONED_AFTER = timedelta(minutes=5)
# A retry that arrives while the first request runs waits this long for its answer.
IN_FLIGHT_WAIT_SECONDS = 25.0
IN_FLIGHT_POLL_SECONDS = 0.05


def request_digest(body: bytes) -> str:
    """The body's SHA-256; JSON is compared by content, not by spacing or key order. A
    body that is not JSON (or nests too deeply to read) is compared byte for byte; the
    route then refuses it."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def caller_of(session: Session, authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.digest == digest(token))).first()
    return row.user_id if row is not None and row.revoked_at is None else None


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _abandoned(session: Session, me: Instance, stored: IdempotentRequest) -> bool:
    """A claim whose request can no longer answer: its API process is gone (a claim from
    before owners were recorded: when it is older than ABANDONED_AFTER)."""
    if stored.status_code is not None:
        return False
    if stored.owner is None:
        return datetime.now(UTC) - _as_utc(stored.created_at) > ABANDONED_AFTER
    return is_gone(session, me, stored.owner)


def claim(
    engine: Engine, me: Instance, authorization: str, route: str, key: str, body_digest: str
) -> IdempotentRequest | str | None:
    """Claim the key for this request. Returns the stored row when there is one (answered,
    or in flight in a live process), the caller's id when this request now holds the
    claim, or None when the caller is not authenticated (the route answers 401 itself)."""
    with Session(engine) as session:
        caller = caller_of(session, authorization)
        if caller is None:
            return None
        for _ in range(3):
            stored = session.get(IdempotentRequest, (caller, route, key))
            now = datetime.now(UTC)
            if stored is not None:
                if not _abandoned(session, me, stored):
                    session.expunge(stored)
                    return stored
                # Take the claim over; of two retries doing so at once, one wins. What
                # the gone request did underneath is keyed too (case number, update id),
                # so running it again finds that instead of doing it twice.
                taken = session.execute(
                    update(IdempotentRequest)
                    .where(col(IdempotentRequest.caller) == caller)
                    .where(col(IdempotentRequest.route) == route)
                    .where(col(IdempotentRequest.key) == key)
                    .where(col(IdempotentRequest.status_code).is_(None))
                    .where(
                        col(IdempotentRequest.owner).is_(None)
                        if stored.owner is None
                        else col(IdempotentRequest.owner) == stored.owner
                    )
                    .values(owner=me.id, request_digest=body_digest, created_at=now)
                )
                session.commit()
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return caller
                session.expire_all()
                continue
            session.add(
                IdempotentRequest(
                    caller=caller,
                    route=route,
                    key=key,
                    request_digest=body_digest,
                    created_at=now,
                    owner=me.id,
                )
            )
            try:
                session.commit()
                return caller
            except IntegrityError:
                session.rollback()  # a concurrent retry claimed it first: read its row
        raise RuntimeError(f"could not claim idempotency key {key!r}")


def finish(
    engine: Engine,
    me: Instance,
    caller: str,
    route: str,
    key: str,
    status: int,
    content_type: str,
    body: bytes,
) -> None:
    """Keep a successful answer; release the key after any other (unless another process
    has taken the claim over meanwhile: then it is that request's to settle)."""
    mine = (
        col(IdempotentRequest.caller) == caller,
        col(IdempotentRequest.route) == route,
        col(IdempotentRequest.key) == key,
        col(IdempotentRequest.owner) == me.id,
    )
    with Session(engine) as session:
        if 200 <= status < 300:
            session.execute(
                update(IdempotentRequest)
                .where(*mine)
                .values(status_code=status, content_type=content_type, body=body.decode())
            )
        else:
            session.execute(delete(IdempotentRequest).where(*mine))
        session.commit()


def _problem(status: int, title: str, detail: str, **extra: Any) -> tuple[int, bytes]:
    return status, json.dumps(problem_body(status, title, detail, **extra)).encode()


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, replayed: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _key_field_error(message: str) -> tuple[int, bytes]:
    return _problem(
        422,
        "Invalid request",
        f"header.Idempotency-Key: {message}",
        errors=[{"field": "header.Idempotency-Key", "message": message, "type": "value_error"}],
    )


class IdempotencyMiddleware:
    """Honours `Idempotency-Key` on every POST of the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            status, body = _key_field_error(f"between 1 and {MAX_KEY_LENGTH} printable characters")
            await _respond(send, status, body, PROBLEM_JSON)
            return

        # Read the whole body once, then hand it to the app as it came.
        request_body = await read_body(receive)
        if request_body is None:
            return
        replay_body = replaying(request_body, receive)

        engine: Engine = scope["app"].state.engine
        me: Instance = scope["app"].state.instance
        route = f"POST {scope['path']}"
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        body_digest = request_digest(request_body)
        deadline = asyncio.get_running_loop().time() + IN_FLIGHT_WAIT_SECONDS
        while True:
            claimed = await asyncio.to_thread(
                claim, engine, me, authorization, route, key, body_digest
            )
            if claimed is None:
                await self.app(scope, replay_body, send)
                return
            if not isinstance(claimed, IdempotentRequest):
                break
            in_flight = claimed.status_code is None and claimed.request_digest == body_digest
            if not in_flight or asyncio.get_running_loop().time() > deadline:
                await self._answer_from(claimed, body_digest, route, send)
                return
            # A concurrent retry: wait for the first request's answer (or its failure,
            # which releases the key to this one).
            await asyncio.sleep(IN_FLIGHT_POLL_SECONDS)

        caller = claimed
        status_code = 500
        content_type = "application/json"
        response_body: list[bytes] = []
        finished = False

        async def store(status: int) -> None:
            nonlocal finished
            finished = True
            await asyncio.to_thread(
                finish,
                engine,
                me,
                caller,
                route,
                key,
                status,
                content_type,
                b"".join(response_body),
            )

        async def capture(message: Message) -> None:
            nonlocal status_code, content_type
            if message["type"] == "http.response.start":
                status_code = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response_body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Stored before the client sees the end, so its retry finds the answer.
                    await store(status_code)
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            if not finished:
                await store(500)

    @staticmethod
    async def _answer_from(
        stored: IdempotentRequest, body_digest: str, route: str, send: Send
    ) -> None:
        if stored.request_digest != body_digest:
            status, body = _key_field_error(
                f"already used for {route} with a different body; use a new key"
            )
            await _respond(send, status, body, PROBLEM_JSON)
        elif stored.status_code is None:
            status, body = _problem(
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still running; retry shortly",
            )
            await _respond(send, status, body, PROBLEM_JSON)
        else:
            idempotent_replays.inc()
            await _respond(
                send,
                stored.status_code,
                (stored.body or "").encode(),
                stored.content_type or "application/json",
                replayed=True,
            )


async def idempotency_key_header(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            description="A retry with the same key and body returns the first answer",
        ),
    ] = None,
) -> None:
    """Declares the header in the OpenAPI document; `IdempotencyMiddleware` does the work."""


IDEMPOTENT = Depends(idempotency_key_header)
