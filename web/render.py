"""Server-rendered pages: Jinja2 with autoescaping on, so every value a user typed is
escaped wherever a template shows it, and the filters the templates share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def instant(moment: datetime | None) -> str:
    """`2026-12-04 12:50:07 UTC`."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local(moment: datetime | None, zone: str | None) -> str:
    """The instant in a zone: `2026-12-04 13:50 CET`."""
    if moment is None or not zone:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def duration(seconds: int | float | None) -> str:
    """`3d 4h`, `2h 05m`, `4m 09s`, `12s`."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def reasons(errors: Sequence[Any]) -> str:
    """Validation errors (pydantic's or FastAPI's) as one line for a page:
    `contact.email: value is not a valid email address; title: ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)


def label(value: str | None) -> str:
    """`waiting_on_customer` -> `waiting on customer`."""
    return (value or "").replace("_", " ")


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(instant=instant, local=local, iso=iso, duration=duration, label=label)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    body = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status_code)
