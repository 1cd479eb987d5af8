"""Text a client may send: no NUL, no control characters, no lone surrogates.

One rule for every request, checked before anything else runs (an ASGI middleware, outside
the idempotency claim): every string in a JSON body, every query parameter and every path
segment. Tab, CR and LF are allowed in long text; a field that holds one line (a title, a
name, an id: `SINGLE_LINE`) refuses them too. A refusal is a 422 problem document naming
each bad field the way validation errors do (`body.title`, `body.contact.name`,
`query.q`, `path`), so nothing that PostgreSQL, a mail header or a terminal would choke on
gets into a case.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi import read_body, replaying
from api.errors import PROBLEM_JSON, problem_body

# C0 controls but tab, LF and CR; DEL; C1 controls; UTF-16 surrogates (valid JSON as
# `\ud800`, but not text: they cannot be encoded to UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Fields that hold a single line wherever they appear in a body.
SINGLE_LINE = frozenset(
    {
        "id",
        "title",
        "name",
        "company_name",
        "email",
        "organisation",
        "severity",
        "assignee",
        "label",
        "version",
        "plan",
        "exclusion",
        "role",
    }
)
# Bytes that may spell a character refused somewhere: a JSON escape, or a control byte
# (raw, or C1 in UTF-8). A body without any of them needs no parsing.
_SUSPECT = re.compile(rb"\\[utnr]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def bad_character(text: str, single_line: bool) -> str | None:
    """A description of the first refused character in `text`, or None."""
    found = (_LINE_CONTROL if single_line else _CONTROL).search(text)
    if found is None:
        return None
    allowed = "" if single_line else " (tab, CR and LF are allowed here)"
    return f"contains the control character U+{ord(found.group()):04X}{allowed}"


def _walk(value: Any, location: tuple[str | int, ...], errors: list[dict[str, str]]) -> None:
    if isinstance(value, str):
        field = location[-1] if len(location) > 1 else None
        # A list of single-line values (e.g. `contact_emails`) inherits nothing: only a
        # field named in SINGLE_LINE, or a list right under one, is held to one line.
        names = [part for part in location if isinstance(part, str)]
        single = isinstance(field, str) and field in SINGLE_LINE
        single = single or (isinstance(field, int) and names[-1] in SINGLE_LINE)
        problem = bad_character(value, single)
        if problem:
            errors.append(
                {
                    "field": ".".join(str(part) for part in location),
                    "message": problem,
                    "type": "string_control_character",
                }
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and bad_character(key, single_line=True):
                errors.append(
                    {
                        "field": ".".join(str(part) for part in location),
                        "message": "a key contains a control character",
                        "type": "string_control_character",
                    }
                )
            _walk(item, (*location, key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*location, index), errors)


def body_errors(body: bytes) -> list[dict[str, str]]:
    """Every string in a JSON body holding a refused character; [] for other bodies."""
    if not _SUSPECT.search(body):
        return []
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route refuses it
    errors: list[dict[str, str]] = []
    _walk(parsed, ("body",), errors)
    return errors


def url_errors(scope: Scope) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    path = scope.get("path", "")
    if bad_character(path, single_line=True):
        errors.append(
            {
                "field": "path",
                "message": "the path contains a control character",
                "type": "string_control_character",
            }
        )
    query = scope.get("query_string", b"").decode("latin-1")
    if "%" in query or _CONTROL.search(query):
        for name, value in parse_qsl(query, keep_blank_values=True):
            problem = bad_character(name + value, single_line=True)
            if problem:
                errors.append(
                    {
                        "field": f"query.{name}",
                        "message": problem,
                        "type": "string_control_character",
                    }
                )
    return errors


async def _refuse(send: Send, errors: list[dict[str, str]]) -> None:
    fields = ", ".join(e["field"] for e in errors)
    body = json.dumps(
        problem_body(422, "Invalid request", f"invalid fields: {fields}", errors=errors)
    ).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _is_form(scope: Scope) -> bool:
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").lower()
    return content_type.startswith((b"multipart/form-data", b"application/x-www-form-urlencoded"))


class TextMiddleware:
    """Refuses control characters in any request's path, query and JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = url_errors(scope)
        if errors:
            await _refuse(send, errors)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH") or _is_form(scope):
            # Forms (the console's and the portal's, files among them) are checked field
            # by field where they are read: `bad_character`.
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        errors = body_errors(body)
        if errors:
            await _refuse(send, errors)
            return
        await self.app(scope, replaying(body, receive), send)
