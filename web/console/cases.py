"""A case: details, plan, clocks, the timeline, and every action the user may take."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import actions, cases
from api.auth import check_role, check_tier
from api.deps import CaseNumber
from api.errors import Conflict, Forbidden, InvalidField, NotFound
from api.text import SINGLE_LINE, bad_character
from models.case import CaseStatus, CaseView, Role
from models.commands import ReopenCase, RequestManagementEscalation
from models.registry import BY_ROUTE, CaseCommandSpec, may_send
from policies.format import Catalog, PlanSpec
from policies.plan_snapshot import EscalationTrigger
from web import render, security
from web.clocks import due_local_words, plan_zone, target_words
from web.console.base import PREFIX, STAFF, WebUser, allow, page, severity_name
from web.render import aware
from web.sessions import WebPrincipal

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LONG_TEXT = {"message", "note", "reason", "summary", "root_cause_analysis", "comment"}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # textarea, text, select
    required: bool
    options: list[tuple[str, str]]
    value: str = ""


@dataclass(frozen=True)
class ActionForm:
    spec: CaseCommandSpec
    fields: list[Field]
    key: str
    error: str | None = None

    @property
    def route(self) -> str:
        return self.spec.route or ""

    @property
    def title(self) -> str:
        return (self.spec.cli or self.route).replace("-", " ").capitalize()


def _catalog(request: Request, view: CaseView) -> Catalog | None:
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    return catalogs.get(view.policy.catalog_id)


def _fields(
    spec: CaseCommandSpec,
    view: CaseView,
    catalog: Catalog | None,
    me: WebPrincipal,
    sent: dict[str, str],
) -> list[Field]:
    body = actions.body_of(spec)
    fields = []
    for name, info in body.model_fields.items():
        options: list[tuple[str, str]] = []
        kind = "textarea" if name in LONG_TEXT else "text"
        value = sent.get(name, "")
        if name == "severity" and catalog is not None:
            kind = "select"
            options = [(s.id, s.name) for s in catalog.severities if s.id != view.severity]
        elif name == "exclusion" and catalog is not None:
            kind = "select"
            allowed = (
                set(catalog.plan(view.plan_id).exclusions) if _has_plan(catalog, view) else set()
            )
            options = [(e.id, e.text) for e in catalog.exclusions if e.id in allowed]
        elif name == "tier":
            kind = "select"
            options = [(str(t), f"Tier {t}") for t in (2, 3) if t > view.tier]
        elif name == "article":
            kind = "number"
        elif name == "assignee" and not value:
            value = me.user.id
        label = (info.description or name).rstrip(".")
        fields.append(Field(name, label, kind, info.is_required(), options, value))
    return fields


def _has_plan(catalog: Catalog, view: CaseView) -> bool:
    return any(plan.id == view.plan_id for plan in catalog.plans)


def offered(
    me: WebPrincipal, view: CaseView, plan: PlanSpec | None = None, now: datetime | None = None
) -> list[CaseCommandSpec]:
    """The actions the user's role and the case's state allow (an agent only in the tiers
    they work), and the plan where it is known: no management escalation the plan does not
    have, offer the user, or has no level left for, and no reopening of a closed case on a
    plan without a reopen window or after its window ended (the workflow refuses each
    anyway)."""
    role = me.user.role
    if role is Role.agent and view.tier not in me.user.tiers:
        return []
    return [
        spec
        for spec in actions.ACTIONS
        if may_send(role, spec)
        and view.status in spec.statuses
        and (spec.command is not RequestManagementEscalation or _may_escalate(me, view, plan))
        and (spec.command is not ReopenCase or _may_reopen(view, plan, now or datetime.now(UTC)))
    ]


def _may_reopen(view: CaseView, plan: PlanSpec | None, now: datetime) -> bool:
    if view.status is not CaseStatus.closed:
        return True
    if plan is not None and plan.reopen_window is None:
        return False
    # A view recorded before `reopen_until` existed has none: the workflow decides.
    return view.reopen_until is None or aware(now) <= aware(view.reopen_until)


def _may_escalate(me: WebPrincipal, view: CaseView, plan: PlanSpec | None) -> bool:
    if plan is None:
        return True  # not known here: the workflow decides
    chain = plan.escalation
    if chain is None or view.escalation_level >= len(chain.levels):
        return False
    return me.user.role is not Role.customer or EscalationTrigger.customer_request in chain.triggers


async def _case_page(
    request: Request,
    me: WebPrincipal,
    number: int,
    status_code: int = 200,
    failed: str | None = None,
    error: str | None = None,
    sent: dict[str, str] | None = None,
    template: str = "console/case.html",
) -> HTMLResponse:
    engine = request.app.state.engine
    view = await cases.read_case(engine, request.app.state.temporal, number)
    timeline = await asyncio.to_thread(cases.timeline, engine, number, False)
    catalog = _catalog(request, view)
    plan = None
    if catalog is not None and _has_plan(catalog, view):
        plan = catalog.plan(view.plan_id)
    specs = offered(me, view, plan)
    zone = plan_zone(catalog, view.plan_id, [])
    if failed is not None and failed in BY_ROUTE and BY_ROUTE[failed] not in specs:
        # The form that was refused stays on screen with its reason, even when the case
        # has moved on to a state that no longer offers it.
        specs.insert(0, BY_ROUTE[failed])
    forms = []
    for spec in specs:
        mine = spec.route == failed
        forms.append(
            ActionForm(
                spec,
                _fields(spec, view, catalog, me, (sent or {}) if mine else {}),
                # A new key per page: a double click sends the same one and acts once.
                uuid.uuid4().hex,
                error if mine else None,
            )
        )
    return page(
        request,
        me,
        template,
        status_code,
        case=view,
        timeline=timeline,
        catalog=catalog,
        plan=plan,
        forms=forms,
        # The plan's calendar without the organisation's add-ons: the zone names the
        # instant only where its offset is the case's own (web.clocks).
        due_local={c.name.value: due_local_words(c, zone) for c in view.clocks},
        targets={c.name.value: target_words(c.target) for c in view.clocks},
        severity_name=severity_name(catalog, view.severity) or view.severity,
    )


@router.get("/cases/{number}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    me: WebUser,
    number: CaseNumber,
    part: Annotated[str | None, Query(pattern="^live$")] = None,
) -> Response:
    """The case; `part=live` answers its changing part alone (the live update)."""
    allow(me, STAFF)
    template = "console/_case_live.html" if part == "live" else "console/case.html"
    return await _case_page(request, me, number, template=template)


@router.get("/cases", response_class=HTMLResponse)
async def find_case(
    request: Request, me: WebUser, number: Annotated[int, Query(ge=1, le=2**31 - 1)]
) -> Response:
    """Jump to a case by number."""
    allow(me, STAFF)
    return RedirectResponse(f"{PREFIX}/cases/{number}", status_code=303)


@router.post("/cases/{number}/{route}", response_class=HTMLResponse)
async def act(request: Request, me: WebUser, number: CaseNumber, route: str) -> Response:
    allow(me, STAFF)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    spec = BY_ROUTE.get(route)
    if spec is None or spec not in actions.ACTIONS:
        raise NotFound(f"there is no action {route!r}")
    sent = {
        name: value
        for name, value in form.multi_items()
        if isinstance(value, str) and name not in ("csrf_token", "idempotency_key")
    }
    bad = [
        f"{name}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE))
    ]
    if bad:
        return await _case_page(request, me, number, 422, route, "; ".join(bad), sent)
    body_model = actions.body_of(spec)
    values: dict[str, Any] = {name: value for name, value in sent.items() if value.strip()}
    try:
        body = body_model.model_validate(render.form_values(body_model, values))
    except ValidationError as err:
        reasons = render.reasons(err.errors())
        return await _case_page(request, me, number, 422, route, reasons, sent)
    key = form.get("idempotency_key")
    key = key if isinstance(key, str) and 0 < len(key) <= 200 else None
    engine, client = request.app.state.engine, request.app.state.temporal
    try:
        check_role(me.user, spec.roles)
        view = await cases.read_case(engine, client, number)
        check_tier(me.user, number, view.tier)
        await asyncio.to_thread(actions.check_references, engine, body, view.details.organisation)
        await actions.perform(
            client, request.app.state.limiter, number, spec, body, me.user.actor, key
        )
    except (Conflict, Forbidden, InvalidField) as err:
        status_code = err.status
        return await _case_page(request, me, number, status_code, route, err.detail, sent)
    return RedirectResponse(f"{PREFIX}/cases/{number}", status_code=303)
