"""Small pieces the API's ASGI middlewares share: a request body read whole, then handed
on to the app as if it had never been read; and the cap on how large a body may be."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_body


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client went away meanwhile."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app `body` first, then whatever the client sends next
    (its disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class BodyLimitMiddleware:
    """Refuses a request body larger than the app will ever read, before anything reads
    it: `413` when its Content-Length says so; a body sent without one ends the request
    (the app sees the client go) at the limit. Multipart forms (files) have their own,
    larger limit."""

    def __init__(self, app: ASGIApp, limit: int, multipart_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.multipart_limit = multipart_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").lower()
        limit = self.multipart_limit if content_type.startswith(b"multipart/") else self.limit
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        problem_body(413, "Request too large", f"the request body is over {limit} bytes")
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
