"""Server-rendered pages: Jinja2 with autoescaping on, so every value a user typed is
escaped wherever a template shows it, and the filters the templates share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def aware(moment: datetime) -> datetime:
    """A stored instant with its zone: UTC where the database gave none (SQLite)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def instant(moment: datetime | None) -> str:
    """`2026-12-04 12:50:07 UTC`."""
    if moment is None:
        return "—"
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def wall(moment: datetime | None) -> str:
    """A local instant as people read it: `Fri 04 Dec 2026, 14:30 CST`."""
    if moment is None:
        return "—"
    moment = aware(moment)
    return f"{moment:%a %d %b %Y, %H:%M} {moment.tzname()}"


def local(moment: datetime | None, zone: str | None) -> str:
    """The instant in a zone: `2026-12-04 13:50 CET`."""
    if moment is None or not zone:
        return "—"
    return aware(moment).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


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


def hours(seconds: int | float | None) -> str:
    """A span of business time: `32h 00m`, `4m 09s`. Never in days, which would read as
    calendar days (32 business hours are a week of office days, not `1d 8h`)."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    whole_hours, rest = divmod(int(abs(seconds)), 3600)
    if whole_hours:
        return f"{sign}{whole_hours}h {rest // 60:02d}m"
    return duration(seconds)


def reasons(errors: Sequence[Any]) -> str:
    """Validation errors (pydantic's or FastAPI's) as one line for a page:
    `contact.email: value is not a valid email address; title: ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)


_TIER = re.compile(r"\btier(\d)\b")


def label(value: str | None) -> str:
    """`waiting_on_customer` -> `waiting on customer`, `tier1` -> `tier 1`."""
    return _TIER.sub(r"tier \1", (value or "").replace("_", " "))


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    instant=instant, local=local, iso=iso, duration=duration, hours=hours, label=label
)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    body = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status_code)


def form_values(model: type[BaseModel], values: dict[str, str]) -> dict[str, Any]:
    """A form's text as the model's fields take it: a choice among numbers (a tier,
    `Literal[2, 3]`) arrives as "2", which validation in Python mode refuses, so it is
    made the number; everything else goes as typed."""
    typed: dict[str, Any] = dict(values)
    for name, value in values.items():
        field = model.model_fields.get(name)
        if field is None or get_origin(field.annotation) is not Literal:
            continue
        choices = get_args(field.annotation)
        if all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
            text = value.strip()
            if text.isascii() and text.isdigit() and len(text) < 10:
                typed[name] = int(text)
    return typed
