"""Opening a case from the portal: what the plan asks for (seed 004: company, contact,
details), its severities with their definitions and what each promises if filed now, the
month's incidents left, and files as the e-mail door takes them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from sqlmodel import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import cases
from api.errors import TierlineError
from api.text import SINGLE_LINE, bad_character
from db.read_model import User
from models.case import CaseDetails, Channel
from policies.business_time import compile_calendar
from policies.plan_snapshot import PlanSnapshot
from policies.resolution import resolve_plan
from web import render, security
from web.portal import attachments
from web.portal.base import PREFIX, Customer, CustomerDep, catalog_of, page
from web.portal.promises import promises, quota
from web.render import wall

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FIELDS = (
    "company_name",
    "contact_name",
    "contact_email",
    "contact_phone",
    "title",
    "details",
    "severity",
    "recurring",
)


def _plan(request: Request, who: Customer, now: datetime) -> PlanSnapshot | None:
    catalog = catalog_of(request, who.organisation)
    if catalog is None:
        return None
    return resolve_plan(catalog, who.organisation.plan, now, who.organisation.addons)


async def _form(
    request: Request,
    who: Customer,
    sent: dict[str, str],
    status_code: int = 200,
    error: str | None = None,
    error_title: str | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    plan = await asyncio.to_thread(_plan, request, who, now)
    left = await quota(request.app.state.temporal, who.organisation.id, plan, now) if plan else None
    defaults = {
        "company_name": who.organisation.name,
        "contact_name": who.web.name,
        "contact_email": await asyncio.to_thread(_email_of, request, who),
    }
    return page(
        request,
        who,
        "portal/new_case.html",
        status_code,
        plan=plan,
        choices=promises(plan, now) if plan else [],
        filed_at=wall(compile_calendar(plan.calendar).local(now)) if plan else "",
        quota=left,
        sent={**defaults, **{k: v for k, v in sent.items() if v}},
        error=error,
        error_title=error_title,
        key=uuid.uuid4().hex,
        settings=request.app.state.settings,
    )


def _email_of(request: Request, who: Customer) -> str:
    with Session(request.app.state.engine) as session:
        user = session.get(User, who.user.id)
        return (user.email if user is not None else None) or ""


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case(
    request: Request, who: CustomerDep, title: Annotated[str, Query(max_length=300)] = ""
) -> Response:
    """The form, with the plan's severities and what each promises if filed now; `title`
    fills its title in (the knowledge base's "open the case" links carry it)."""
    return await _form(request, who, {"title": title})


@router.post("/cases/new", response_class=HTMLResponse)
async def open_case(request: Request, who: CustomerDep) -> Response:
    settings = request.app.state.settings
    form = await request.form(max_files=settings.mail_max_attachments + 10)
    security.check_form(request, form, who.web.csrf_token)
    # A field sent as a file where text belongs counts as empty.
    sent = {name: value if isinstance(value := form.get(name), str) else "" for name in FIELDS}
    bad = [
        f"{name}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE | {"contact_name"}))
    ]
    if bad:
        return await _form(request, who, sent, 422, "; ".join(bad))
    try:
        uploads = await attachments.read(form, settings)
    except attachments.UploadRefused as err:
        return await _form(request, who, sent, 422, str(err))
    body: dict[str, Any] = {
        # The organisation is the customer's own, never the form's.
        "organisation": who.organisation.id,
        "company_name": sent["company_name"],
        "contact": {
            "name": sent["contact_name"],
            "email": sent["contact_email"],
            **({"phone": sent["contact_phone"]} if sent["contact_phone"] else {}),
        },
        "channel": Channel.web.value,
        "title": sent["title"],
        "details": (sent["details"] + attachments.lines(uploads)) if sent["details"] else "",
        "severity": sent["severity"],
        "recurring": sent["recurring"] == "yes",
    }
    try:
        details = CaseDetails.model_validate(body)
    except ValidationError as err:
        reasons = render.reasons(err.errors())
        return await _form(request, who, sent, 422, reasons)
    key = form.get("idempotency_key")
    state = request.app.state
    store = attachments.store(settings)
    digests = await asyncio.to_thread(attachments.keep, store, uploads)
    try:
        view = await cases.open_case(
            state.engine,
            state.temporal,
            settings,
            state.catalogs,
            state.limiter,
            details,
            who.user.actor,
            key if isinstance(key, str) and 0 < len(key) <= 200 else None,
        )
    except TierlineError as err:
        return await _form(request, who, sent, err.status, err.detail, err.title)
    await asyncio.to_thread(
        attachments.record, state.engine, who.organisation.id, view.number, uploads, digests
    )
    return RedirectResponse(f"{PREFIX}/cases/{view.number}", status_code=303)
