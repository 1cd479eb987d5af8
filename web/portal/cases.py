"""The organisation's cases: the list, and a case as its customer is entitled to see it
(public timeline, the customer's clocks, the files) with the customer's actions."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import actions, cases
from api.auth import check_role
from api.deps import MAX_ID, CaseNumber, Offset
from api.errors import Conflict, NotFound
from api.routes.cases import visible_case
from api.routes.mail import download_attachment
from api.text import SINGLE_LINE, bad_character
from models.case import CaseStatus, CaseView
from models.clocks import ClockName, ClockView
from models.commands import CustomerReply
from models.notifications import said_by
from models.registry import BY_ROUTE, CaseCommandSpec, EventKind
from policies.format import Catalog
from web import render, security
from web.clocks import due_local_words, local_words, plan_zone, target_words
from web.console.cases import LONG_TEXT, Field, offered
from web.portal import attachments
from web.portal.base import PREFIX, Customer, CustomerDep, catalog_of, page
from web.portal.kb import article_titles

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 25
Text = Annotated[str | None, Query(max_length=200)]
# What a customer's list filters on: the statuses as a customer thinks of them.
SHOWN = {
    "open": [
        CaseStatus.new,
        CaseStatus.tier1,
        CaseStatus.tier2,
        CaseStatus.tier3,
        CaseStatus.waiting_on_customer,
    ],
    "resolved": [CaseStatus.resolved],
    "closed": [CaseStatus.closed, CaseStatus.closed_out_of_scope],
}
# The clocks a customer is promised; tier 1's is the support team's own.
CUSTOMER_CLOCKS = (ClockName.first_response, ClockName.periodic_update, ClockName.resolution)
# Each action as the customer reads it, and its fields' labels.
TITLES = {
    "reply": "Reply",
    "confirm": "Confirm the resolution",
    "reopen": "Reopen the case",
    "management-escalation": "Ask for management escalation",
    "severity": "Change the severity",
}
HINTS = {
    "reply": "Your answer goes to the support team; a case waiting on you resumes.",
    "confirm": "The problem is solved: the case closes.",
    "reopen": "The problem is back or was not solved: the case opens again, within the "
    "reopen window of your plan.",
    "management-escalation": "The case goes one level up your plan's management chain.",
    "severity": "Every promised time is worked out again for the new severity.",
}
LABELS = {
    ("reply", "message"): "Your reply",
    ("confirm", "comment"): "Any comment",
    ("reopen", "reason"): "Why the case is not solved",
    ("management-escalation", "reason"): "Why you ask for escalation",
    ("severity", "severity"): "New severity",
    ("severity", "reason"): "Why the severity changes",
}


@dataclass(frozen=True)
class ActionForm:
    spec: CaseCommandSpec
    fields: list[Field]
    key: str
    files: bool  # the form takes attachments
    error: str | None = None

    @property
    def route(self) -> str:
        return self.spec.route or ""

    @property
    def title(self) -> str:
        return TITLES.get(self.route, self.route.replace("-", " ").capitalize())

    @property
    def hint(self) -> str:
        return HINTS.get(self.route, self.spec.summary)


@dataclass(frozen=True)
class Entry:
    """A public timeline entry, with who did it as a customer reads it."""

    seq: int
    at: datetime
    kind: str
    who: str
    reason: str | None
    data: dict[str, Any]


def _fields(
    spec: CaseCommandSpec, view: CaseView, catalog: Catalog | None, sent: dict[str, str]
) -> list[Field]:
    fields = []
    for name, info in actions.body_of(spec).model_fields.items():
        options: list[tuple[str, str]] = []
        kind = "textarea" if name in LONG_TEXT else "text"
        if name == "severity":
            kind = "select"
            levels = catalog.severities if catalog is not None else []
            options = [(s.id, s.name) for s in levels if s.id != view.severity]
        label = LABELS.get((spec.route or "", name), (info.description or name).rstrip("."))
        fields.append(Field(name, label, kind, info.is_required(), options, sent.get(name, "")))
    return fields


async def _case_page(
    request: Request,
    who: Customer,
    number: int,
    status_code: int = 200,
    failed: str | None = None,
    error: str | None = None,
    sent: dict[str, str] | None = None,
    template: str = "portal/case.html",
) -> HTMLResponse:
    engine, client = request.app.state.engine, request.app.state.temporal
    view = await visible_case(engine, client, number, who.user)  # another's case: 404
    rows = await asyncio.to_thread(cases.timeline, engine, number, True)
    files = await asyncio.to_thread(attachments.of_case, engine, who.organisation.id, number)
    catalog = catalog_of(request, who.organisation)
    plan = None
    if catalog is not None and any(p.id == view.plan_id for p in catalog.plans):
        plan = catalog.plan(view.plan_id)
    allowed = offered(who.web, view, plan)
    specs = list(allowed)
    if failed is not None and failed in BY_ROUTE and BY_ROUTE[failed] not in specs:
        # The refused form stays on screen with its reason, though the case moved on.
        specs.insert(0, BY_ROUTE[failed])
    forms = [
        ActionForm(
            spec,
            _fields(spec, view, catalog, (sent or {}) if spec.route == failed else {}),
            uuid.uuid4().hex,  # a new key per page: a double click acts once
            spec.command is CustomerReply,
            error if spec.route == failed else None,
        )
        for spec in specs
    ]
    timeline = [
        Entry(
            row.seq, row.at, row.kind, said_by(row.actor_id, row.actor_role), row.reason, row.data
        )
        for row in rows
    ]
    # A response may point to an article (its number); the customer sees its title and a
    # link, where they may still read it.
    pointed = {
        entry.data["article"]
        for entry in timeline
        if entry.kind == EventKind.responded.value and isinstance(entry.data.get("article"), int)
    }
    articles = await article_titles(engine, who.user, pointed) if pointed else {}
    shown: list[ClockView] = [c for c in view.clocks if c.name in CUSTOMER_CLOCKS]
    zone = plan_zone(catalog, view.plan_id, who.organisation.addons)
    due_local = {c.name.value: due_local_words(c, zone) for c in shown}
    targets = {c.name.value: target_words(c.target) for c in shown}
    return page(
        request,
        who,
        template,
        status_code,
        case=view,
        clocks=shown,
        due_local=due_local,
        targets=targets,
        timeline=timeline,
        articles=articles,
        files=files,
        catalog=catalog,
        plan=plan,
        forms=forms,
        offered=",".join(spec.route or "" for spec in allowed),
        reopen_until=local_words(view.reopen_until, zone),
        may_reopen=BY_ROUTE["reopen"] in allowed,
        settings=request.app.state.settings,
    )


@router.get("", response_class=HTMLResponse)
async def my_cases(
    request: Request,
    who: CustomerDep,
    q: Text = None,
    status: Annotated[str | None, Query(pattern="^(|open|resolved|closed)$")] = None,
    offset: Offset = 0,
    part: Annotated[str | None, Query(pattern="^rows$")] = None,
) -> Response:
    """The organisation's cases, newest first; `part=rows` answers the rows alone."""
    filters = cases.CaseFilters(
        organisation=who.organisation.id, statuses=SHOWN.get(status or ""), text=q or None
    )
    found = await asyncio.to_thread(
        cases.list_cases, request.app.state.engine, filters, PAGE_SIZE, offset
    )
    context: dict[str, Any] = {
        "found": found,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "query": {"q": q or "", "status": status or ""},
    }
    template = "portal/_case_rows.html" if part == "rows" else "portal/cases.html"
    return page(request, who, template, **context)


@router.get("/cases/{number}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    who: CustomerDep,
    number: CaseNumber,
    part: Annotated[str | None, Query(pattern="^(live|actions)$")] = None,
) -> Response:
    """The case; `part=live` answers its changing part, `part=actions` its forms."""
    template = {"live": "portal/_case_live.html", "actions": "portal/_actions.html"}.get(
        part or "", "portal/case.html"
    )
    return await _case_page(request, who, number, template=template)


@router.get("/cases/{number}/attachments/{attachment_id}")
async def attachment(
    request: Request,
    who: CustomerDep,
    number: CaseNumber,
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    """One of the case's files, as a download; another organisation's is 404."""
    state = request.app.state
    return await download_attachment(
        number, attachment_id, who.user, state.engine, state.temporal, request
    )


@router.post("/cases/{number}/{route}", response_class=HTMLResponse)
async def act(request: Request, who: CustomerDep, number: CaseNumber, route: str) -> Response:
    settings = request.app.state.settings
    form = await request.form(max_files=settings.mail_max_attachments + 10)
    security.check_form(request, form, who.web.csrf_token)
    spec = BY_ROUTE.get(route)
    if spec is None or spec not in actions.ACTIONS:
        raise NotFound(f"there is no action {route!r}")
    check_role(who.user, spec.roles)  # 403 in the API's words
    sent = {
        name: value
        for name, value in form.multi_items()
        if isinstance(value, str) and name not in ("csrf_token", "idempotency_key")
    }

    async def refuse(status_code: int, reason: str) -> Response:
        return await _case_page(request, who, number, status_code, route, reason, sent)

    bad = [
        f"{name}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE))
    ]
    if bad:
        return await refuse(422, "; ".join(bad))
    uploads: list[attachments.Upload] = []
    if spec.command is CustomerReply:
        try:
            uploads = await attachments.read(form, settings)
        except attachments.UploadRefused as err:
            return await refuse(422, str(err))
    values: dict[str, Any] = {name: value for name, value in sent.items() if value.strip()}
    if uploads and "message" in values:
        values["message"] += attachments.lines(uploads)
    try:
        model = actions.body_of(spec)
        body = model.model_validate(render.form_values(model, values))
    except ValidationError as err:
        reasons = render.reasons(err.errors())
        return await refuse(422, reasons)
    key = form.get("idempotency_key")
    key = key if isinstance(key, str) and 0 < len(key) <= 200 else None
    engine, client = request.app.state.engine, request.app.state.temporal
    await visible_case(engine, client, number, who.user)  # another's case: 404
    digests = await asyncio.to_thread(attachments.keep, attachments.store(settings), uploads)
    try:
        await actions.perform(
            client, request.app.state.limiter, number, spec, body, who.user.actor, key
        )
    except Conflict as err:
        return await refuse(409, err.detail)
    if uploads:
        await asyncio.to_thread(
            attachments.record, engine, who.organisation.id, number, uploads, digests
        )
    return RedirectResponse(f"{PREFIX}/cases/{number}", status_code=303)
