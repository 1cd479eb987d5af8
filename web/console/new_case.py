"""Opening a case from the console: an agent logging a call, a chat or a walk-in."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import cases
from api.errors import TierlineError
from api.text import SINGLE_LINE, bad_character
from db.read_model import Organisation
from models.case import CaseDetails, Channel
from policies.format import Catalog
from web import render, security
from web.console.base import CASE_OPENERS, PREFIX, WebUser, allow, page
from web.sessions import WebPrincipal

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# The roles that may open cases for any organisation: the API's `POST /cases` less the
# customer, who opens cases through the portal.
FIELDS = (
    "organisation",
    "company_name",
    "contact_name",
    "contact_email",
    "contact_phone",
    "channel",
    "title",
    "details",
    "severity",
)


def _organisations(request: Request) -> list[Organisation]:
    with Session(request.app.state.engine) as session:
        return list(session.exec(select(Organisation).order_by(col(Organisation.name))).all())


def _form(
    request: Request,
    me: WebPrincipal,
    organisation_id: str | None,
    sent: dict[str, str],
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    organisations = _organisations(request)
    chosen = next((o for o in organisations if o.id == organisation_id), None)
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    catalog = catalogs.get(chosen.catalog) if chosen is not None else None
    return page(
        request,
        me,
        "console/new_case.html",
        status_code,
        organisations=organisations,
        chosen=chosen,
        catalog=catalog,
        channels=[c.value for c in Channel if c is not Channel.api],
        sent={"channel": Channel.phone.value, **sent},
        error=error,
        key=uuid.uuid4().hex,
    )


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case(
    request: Request,
    me: WebUser,
    organisation: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Step 1 picks the organisation; step 2 shows its plan's severities with their
    definitions beside the rest of the form."""
    allow(me, CASE_OPENERS)
    return await asyncio.to_thread(_form, request, me, organisation, {})


@router.post("/cases/new", response_class=HTMLResponse)
async def open_case(request: Request, me: WebUser) -> Response:
    allow(me, CASE_OPENERS)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    sent = {name: str(form.get(name) or "") for name in FIELDS}
    organisation = sent["organisation"] or None

    def refuse(status_code: int, error: str) -> Response:
        return _form(request, me, organisation, sent, status_code, error)

    bad = [
        f"{name}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE | {"contact_name"}))
    ]
    if bad:
        return await asyncio.to_thread(refuse, 422, "; ".join(bad))
    chosen = next((o for o in _organisations(request) if o.id == organisation), None)
    body: dict[str, Any] = {
        "organisation": sent["organisation"],
        "company_name": sent["company_name"] or (chosen.name if chosen else ""),
        "contact": {
            "name": sent["contact_name"],
            "email": sent["contact_email"],
            **({"phone": sent["contact_phone"]} if sent["contact_phone"] else {}),
        },
        "channel": sent["channel"] or Channel.phone.value,
        "title": sent["title"],
        "details": sent["details"],
        "severity": sent["severity"],
    }
    try:
        details = CaseDetails.model_validate(body)
    except ValidationError as err:
        reasons = render.reasons(err.errors())
        return await asyncio.to_thread(refuse, 422, reasons)
    key = form.get("idempotency_key")
    state = request.app.state
    try:
        view = await cases.open_case(
            state.engine,
            state.temporal,
            state.settings,
            state.catalogs,
            state.limiter,
            details,
            me.user.actor,
            key if isinstance(key, str) and 0 < len(key) <= 200 else None,
        )
    except TierlineError as err:
        return await asyncio.to_thread(refuse, err.status, err.detail)
    return RedirectResponse(f"{PREFIX}/cases/{view.number}", status_code=303)
