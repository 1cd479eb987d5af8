"""How Tierline's processes log: readable lines by default, one JSON object a line with
LOG_FORMAT=json, both on standard error through the root logger, so Tierline's, the
Temporal SDK's and uvicorn's loggers all come out the same way.

A record carries, where they apply, the case number, the workflow id, the update id and
the trace id: bound by the API around a call (`bind`, `tag`), taken from the Temporal
SDK's own records in the worker (`activity.logger` and `workflow.logger` attach
`temporal_activity` / `temporal_workflow`), and from the current span while tracing is on.
Secrets that slip into a line anyway (a bearer token, a password, a session cookie, a
link's token) are replaced by `[redacted]` before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from observability import tracing
from settings import Settings

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
CONTEXT_FIELDS = ("case_number", "workflow_id", "update_id", "trace_id")
# A JSON line's keys, in this order; those without a value are left out.
JSON_FIELDS = (
    "timestamp",
    "level",
    "logger",
    "message",
    "service",
    *CONTEXT_FIELDS,
    "exc_info",
    "stack_info",
)
# uvicorn gives these handlers of its own, which do not propagate, when it starts.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# httpx logs every request's URL at INFO, and a webhook's URL is often its credential.
QUIETER = {"httpx": logging.WARNING}
REDACTED = "[redacted]"

# `models.case.case_workflow_id`, read backwards.
CASE_WORKFLOW_ID = re.compile(r"case-(\d+)")
_SECRET_VALUE = r"[^\s\"'&,;<>]+"
SECRETS = (
    # An Authorization header, or any bearer token quoted in a message.
    re.compile(r"(?i)\b(bearer\s+)[\w\-.~+/]+=*"),
    # password=, "password": ..., token= in a URL (a link's; web.links), api_key=, secret=.
    re.compile(
        r"(?i)((?:password|passwd|token|secret|api[_-]?key)[\"']?\s*[=:]\s*[\"']?)" + _SECRET_VALUE
    ),
    # The console's session cookie (web.sessions.COOKIE) and any other *session= cookie.
    re.compile(r"(?i)(\w*session=)" + _SECRET_VALUE),
    # A Cookie or Set-Cookie header, whole.
    re.compile(r"(?i)\b((?:set-)?cookie:\s*)[^\r\n]+"),
    # An API token on its own (api.auth.new_token: TOKEN_PREFIX and 43 characters).
    re.compile(r"()\btl_[\w-]{40,}"),
)

_bound: ContextVar[Mapping[str, Any]] = ContextVar(
    "tierline_log_context", default=MappingProxyType({})
)


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by `[redacted]`."""
    for pattern in SECRETS:
        text = pattern.sub(rf"\1{REDACTED}", text)
    return text


def _fields(
    case_number: int | None, workflow_id: str | None, update_id: str | None
) -> dict[str, Any]:
    given = {"case_number": case_number, "workflow_id": workflow_id, "update_id": update_id}
    return {**_bound.get(), **{name: value for name, value in given.items() if value is not None}}


@contextmanager
def bind(
    *, case_number: int | None = None, workflow_id: str | None = None, update_id: str | None = None
) -> Iterator[None]:
    """Put these on every record logged in the block, and in tasks started from it; a
    field not given keeps the value bound around the block."""
    token = _bound.set(MappingProxyType(_fields(case_number, workflow_id, update_id)))
    try:
        yield
    finally:
        _bound.reset(token)


def tag(
    *, case_number: int | None = None, workflow_id: str | None = None, update_id: str | None = None
) -> None:
    """Put these on every record logged from here to the end of the current context (a
    request's task: call it from a route or a dependency)."""
    _bound.set(MappingProxyType(_fields(case_number, workflow_id, update_id)))


class ContextFilter(logging.Filter):
    """Fills in a record's case number, workflow id, update id and trace id, and redacts
    secrets from its message. What the record says itself wins: an `extra` given to the
    call, then the Temporal SDK's details, then what the API bound."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_bound.get())
        temporal = getattr(record, "temporal_workflow", None) or getattr(
            record, "temporal_activity", None
        )
        if isinstance(temporal, Mapping):
            fields |= {
                name: temporal[name]
                for name in ("workflow_id", "update_id")
                if temporal.get(name) is not None
            }
        workflow_id = getattr(record, "workflow_id", None) or fields.get("workflow_id")
        case = CASE_WORKFLOW_ID.fullmatch(workflow_id) if isinstance(workflow_id, str) else None
        if case is not None:
            fields.setdefault("case_number", int(case.group(1)))
        fields["trace_id"] = tracing.current_trace_id()
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None and fields.get(name) is not None:
                setattr(record, name, fields[name])
        try:
            message = record.getMessage()
        except Exception:
            return True  # the formatter reports the broken call
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class TextFormatter(logging.Formatter):
    """Today's readable line, with secrets in tracebacks redacted too."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: the fields of JSON_FIELDS that have a value, nothing else
    of the record (no `extra` that might hold a message body)."""

    def __init__(self, service: str) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp=True,
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        kept = {name: log_data.get(name) for name in JSON_FIELDS}
        for name in ("exc_info", "stack_info"):
            value = kept[name]
            if isinstance(value, str):
                kept[name] = redact(value)
        return {name: value for name, value in kept.items() if value is not None}


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record comes, as `logging.lastResort`
    does: test runners swap it, and a stream taken once may be closed by then."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure(settings: Settings, service: str) -> None:
    """Set up the process's logging: `service` names the process (api, worker,
    mail-gateway). A later call replaces what an earlier one installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonLineFormatter(service))
        # `uvicorn api.app:app` has given uvicorn's loggers their own text handlers by the
        # time it imports the app: their lines go through this handler instead.
        for name in UVICORN_LOGGERS:
            logger = logging.getLogger(name)
            for own in list(logger.handlers):
                logger.removeHandler(own)
            logger.propagate = True
    else:
        handler.setFormatter(TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name, level in QUIETER.items():
        logging.getLogger(name).setLevel(level)
