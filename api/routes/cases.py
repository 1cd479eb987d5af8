"""Case routes: open, read, list, timeline, and every action on a case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import BaseModel

from api import actions, cases
from api.auth import CurrentUser, Principal, check_tier, require
from api.deps import (
    CaseNumber,
    CatalogsDep,
    EngineDep,
    LimiterDep,
    Offset,
    SettingsDep,
    TemporalDep,
)
from api.errors import Forbidden, InvalidField, NotFound
from api.schemas import CasePage, Instant, TimelineEntry
from models.case import CaseDetails, CaseStatus, CaseView, Role
from models.registry import CaseCommandSpec

router = APIRouter(prefix="/cases", tags=["cases"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseView,
    dependencies=[require(Role.customer, Role.agent)],
)
async def open_case(
    body: CaseDetails,
    user: CurrentUser,
    engine: EngineDep,
    client: TemporalDep,
    settings: SettingsDep,
    catalogs: CatalogsDep,
    limiter: LimiterDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Open a support case; a retry with the same Idempotency-Key returns the same case."""
    if not user.sees_organisation(body.organisation):
        raise Forbidden(f"you may open cases for {user.organisation} only")
    if body.source_message_id is not None:
        raise InvalidField("body.source_message_id", "only the e-mail gateway sets it")
    return await cases.open_case(
        engine, client, settings, catalogs, limiter, body, user.actor, idempotency_key
    )


@router.get("", response_model=CasePage)
async def list_cases(
    user: CurrentUser,
    engine: EngineDep,
    status_: Annotated[list[CaseStatus] | None, Query(alias="status")] = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    severity: str | None = None,
    organisation: str | None = None,
    assignee: str | None = None,
    breached: bool | None = None,
    due_before: Instant | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in title or details")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> CasePage:
    """List cases, newest first, filtered; customers see their organisation's only."""
    if user.role is Role.customer:
        organisation = user.organisation
    filters = cases.CaseFilters(
        statuses=status_,
        tier=tier,
        severity=severity,
        organisation=organisation,
        assignee=assignee,
        breached=breached,
        due_before=due_before,
        text=q,
    )
    return await asyncio.to_thread(cases.list_cases, engine, filters, limit, offset)


@router.get("/{number}", response_model=CaseView)
async def get_case(
    number: CaseNumber, user: CurrentUser, engine: EngineDep, client: TemporalDep
) -> CaseView:
    """Read one case with every SLA clock."""
    return await visible_case(engine, client, number, user)


@router.get("/{number}/timeline", response_model=list[TimelineEntry])
async def get_timeline(
    number: CaseNumber, user: CurrentUser, engine: EngineDep, client: TemporalDep
) -> list[TimelineEntry]:
    """The case's events: who did what, when and why (internal notes hidden from customers)."""
    await visible_case(engine, client, number, user)
    public_only = user.role is Role.customer
    return await asyncio.to_thread(cases.timeline, engine, number, public_only)


def _hide_from_others(user: Principal, organisation: str, number: int) -> None:
    if not user.sees_organisation(organisation):
        raise NotFound(f"case {number} does not exist")


async def visible_case(engine: Any, client: Any, number: CaseNumber, user: Principal) -> CaseView:
    view = await cases.read_case(engine, client, number)
    _hide_from_others(user, view.details.organisation, number)
    return view


def _action_route(action: CaseCommandSpec) -> None:
    body_model: Any = actions.body_of(action)

    async def act(
        number: CaseNumber,
        body: BaseModel,
        engine: EngineDep,
        client: TemporalDep,
        limiter: LimiterDep,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        # The caller and the case's access columns in one query (an action is the API's
        # busiest call): 401, then 403 for the role, then 404 or 403 for this case.
        user, organisation, tier = await cases.caller_and_case_access(
            engine, client, authorization, number, action.roles
        )
        _hide_from_others(user, organisation, number)
        check_tier(user, number, tier)
        if actions.has_references(body):  # no thread hop for the others
            await asyncio.to_thread(actions.check_references, engine, body, organisation)
        view = await actions.perform(
            client, limiter, number, action, body, user.actor, idempotency_key
        )
        return Response(view, media_type="application/json")

    # Annotations are strings here (postponed evaluation); give FastAPI the real body type.
    act.__annotations__["body"] = Annotated[body_model, Body()]
    router.add_api_route(
        f"/{{number}}/{action.route}",
        act,
        methods=["POST"],
        response_model=CaseView,
        summary=action.summary,
        description=action.summary,
        name=action.route_name,
        responses={409: {"description": "Not allowed in the case's current state"}},
    )


for _action in actions.ACTIONS:
    _action_route(_action)
