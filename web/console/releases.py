"""Releases: the list and planning; a release with its linked cases, how many of them are
resolved (live), and every action a release manager may take on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import releases
from api.auth import check_role
from api.deps import MAX_ID, Offset
from api.errors import Conflict, Forbidden, NotFound
from api.routes.releases import (
    MANAGER_ROLES as MANAGERS,
)
from api.routes.releases import (
    READER_ROLES as READERS,
)
from api.routes.releases import (
    Build,
    Reason,
    ReleaseCreate,
    notes_of,
)
from api.text import SINGLE_LINE, bad_character
from db.read_model import CaseRecord
from models.case import CaseStatus
from models.release import (
    OPEN_RELEASE,
    CancelRelease,
    LinkedCase,
    PlanRelease,
    PublishHotfix,
    ReleaseAction,
    ReleaseKind,
    ReleaseStatus,
    ReleaseView,
)
from web import security
from web.console.base import PREFIX, WebUser, allow, may_open, page
from web.render import reasons
from web.sessions import WebPrincipal
from workflows.release import ReleaseWorkflow

router = APIRouter(prefix=PREFIX, include_in_schema=False)
RESOLVED = frozenset({CaseStatus.resolved, CaseStatus.closed})
PAGE_SIZE = 50


@dataclass(frozen=True)
class Input:
    name: str
    label: str
    kind: str  # text, number, date, textarea, select
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()
    maxlength: int | None = None


@dataclass(frozen=True)
class Action:
    """A form of the releases pages: what it asks for and in which states it is offered."""

    name: str
    title: str
    hint: str
    statuses: frozenset[ReleaseStatus] = OPEN_RELEASE
    inputs: tuple[Input, ...] = ()


@dataclass(frozen=True)
class Shown:
    """An action's form as drawn: what was typed into it and why it was refused."""

    action: Action
    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class LinkedRow:
    case: LinkedCase
    title: str | None  # None while the case is not in the read model yet
    status: str | None

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED


class CaseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=MAX_ID)


CASE_NUMBER = Input("number", "Case number", "number")
PLAN = Action(
    "plan",
    "Plan a release",
    "Planning a version that exists already opens it.",
    inputs=(
        Input("version", "Version (letters, digits, . _ + -)", "text", maxlength=50),
        Input("kind", "Kind", "select", options=tuple((k.value, k.value) for k in ReleaseKind)),
        Input("planned_date", "Planned for", "date", required=False),
        Input("notes", "Notes", "textarea", required=False, maxlength=20_000),
    ),
)
ACTIONS = (
    Action(
        "link",
        "Link a case",
        "A tier-3 case; a case in another tier refuses.",
        inputs=(CASE_NUMBER,),
    ),
    Action(
        "start",
        "Start",
        "Mark the release in progress.",
        statuses=frozenset({ReleaseStatus.planned}),
    ),
    Action(
        "hotfix",
        "Publish a hotfix",
        "Linked cases on plans with priority updates are told of the build at once.",
        inputs=(Input("build", "Build", "text", maxlength=200),),
    ),
    Action("ship", "Ship", "Every linked case is resolved, naming this release."),
    Action(
        "cancel",
        "Cancel the release",
        "Linked cases return to the tier-3 queue with the reason.",
        inputs=(Input("reason", "Reason", "textarea", maxlength=2000),),
    ),
)
UNLINK = Action("unlink", "Unlink", "The case leaves the release.", inputs=(CASE_NUMBER,))
BY_NAME = {action.name: action for action in (*ACTIONS, UNLINK)}


def _sent(form: FormData) -> dict[str, str]:
    return {
        name: value
        for name, value in form.multi_items()
        if isinstance(value, str) and name != "csrf_token"
    }


def _bad_characters(sent: dict[str, str]) -> str | None:
    bad = [
        f"{name}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE))
    ]
    return "; ".join(bad) or None


def _reasons(err: ValidationError) -> str:
    return reasons(err.errors())


def _filled(sent: dict[str, str]) -> dict[str, Any]:
    """An empty optional field is not sent, as a JSON client would leave it out."""
    return {name: value for name, value in sent.items() if value.strip()}


def _titles_and_statuses(engine: Engine, numbers: list[int]) -> dict[int, tuple[str, str]]:
    """Each case's title and status from the read model."""
    if not numbers:
        return {}
    with Session(engine) as session:
        rows = session.exec(
            select(CaseRecord.number, CaseRecord.title, CaseRecord.status).where(
                col(CaseRecord.number).in_(numbers)
            )
        ).all()
    return {number: (title, status) for number, title, status in rows}


def _manages(me: WebPrincipal) -> bool:
    return may_open(me.user.role, MANAGERS)


async def _list_page(
    request: Request,
    me: WebPrincipal,
    status: ReleaseStatus | None = None,
    offset: int = 0,
    status_code: int = 200,
    plan_form: Shown | None = None,
) -> HTMLResponse:
    listing = await asyncio.to_thread(
        releases.list_releases,
        request.app.state.engine,
        [status] if status else None,
        PAGE_SIZE,
        offset,
    )
    if plan_form is None and _manages(me):
        plan_form = Shown(PLAN)
    return page(
        request,
        me,
        "console/releases.html",
        status_code,
        listing=listing,
        status=status.value if status else "",
        statuses=list(ReleaseStatus),
        offset=offset,
        page_size=PAGE_SIZE,
        plan_form=plan_form,
    )


async def _release_page(
    request: Request,
    me: WebPrincipal,
    version: str,
    status_code: int = 200,
    failed: str | None = None,
    error: str | None = None,
    sent: dict[str, str] | None = None,
    template: str = "console/release.html",
) -> HTMLResponse:
    client = request.app.state.temporal
    release = await releases.read(client, version)
    notes = notes_of(release)
    found = await asyncio.to_thread(
        _titles_and_statuses, request.app.state.engine, [case.number for case in release.cases]
    )
    rows = [LinkedRow(case, *found.get(case.number, (None, None))) for case in release.cases]
    offered = (
        [action for action in ACTIONS if release.status in action.statuses] if _manages(me) else []
    )
    failed_action = BY_NAME.get(failed or "")
    if failed_action in ACTIONS and failed_action not in offered:
        # The refused form stays on screen with its reason, even when the release has
        # moved on to a state that no longer offers it.
        offered.insert(0, failed_action)
    forms = [
        Shown(action, sent or {}, error) if action is failed_action else Shown(action)
        for action in offered
    ]
    return page(
        request,
        me,
        template,
        status_code,
        release=release,
        rows=rows,
        resolved=sum(row.resolved for row in rows),
        notes=notes,
        forms=forms,
        manages=_manages(me),
        may_unlink=_manages(me) and release.status in OPEN_RELEASE,
        unlink_error=error if failed == UNLINK.name else None,
    )


def _path(version: str) -> str:
    return f"{PREFIX}/releases/{quote(version, safe='')}"


@router.get("/releases", response_class=HTMLResponse)
async def release_list(
    request: Request,
    me: WebUser,
    # The filter form's "any" sends an empty value, which the enum would refuse.
    status: Annotated[
        str | None, Query(pattern="^(|" + "|".join(s.value for s in ReleaseStatus) + ")$")
    ] = None,
    offset: Offset = 0,
) -> Response:
    """Releases, most recently planned first, from the read model."""
    allow(me, READERS)
    return await _list_page(request, me, ReleaseStatus(status) if status else None, offset)


@router.post("/releases", response_class=HTMLResponse)
async def plan(request: Request, me: WebUser) -> Response:
    """Plan a release (planning an existing version of the same kind opens it)."""
    allow(me, READERS)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    sent = _sent(form)

    async def refused(status_code: int, reason: str) -> HTMLResponse:
        return await _list_page(request, me, None, 0, status_code, Shown(PLAN, sent, reason))

    if bad := _bad_characters(sent):
        return await refused(422, bad)
    # No idempotency key: planning a version again returns it, and so does every
    # release action repeated (the workflow's updates are idempotent).
    try:
        check_role(me.user, MANAGERS)
        body = ReleaseCreate.model_validate(_filled(sent))
        command = PlanRelease(**body.model_dump(), planned_by=me.user.actor)
        settings = request.app.state.settings
        view = await releases.plan(
            request.app.state.temporal, settings.temporal_task_queue, command
        )
    except ValidationError as err:
        return await refused(422, _reasons(err))
    except (Conflict, Forbidden) as err:
        return await refused(err.status, err.detail)
    return RedirectResponse(_path(view.version), status_code=303)


@router.get("/releases/{version}", response_class=HTMLResponse)
async def release_page(
    request: Request,
    me: WebUser,
    version: str,
    part: Annotated[str | None, Query(pattern="^live$")] = None,
) -> Response:
    """The release; `part=live` answers its changing part alone (the live update)."""
    allow(me, READERS)
    template = "console/_release_live.html" if part == "live" else "console/release.html"
    return await _release_page(request, me, version, template=template)


async def _perform(
    request: Request, me: WebPrincipal, version: str, name: str, sent: dict[str, str]
) -> ReleaseView:
    client, limiter = request.app.state.temporal, request.app.state.limiter
    actor = me.user.actor
    values = _filled(sent)
    match name:
        case "link":
            number = CaseRef.model_validate(values).number
            return await releases.link(client, limiter, version, number, actor)
        case "unlink":
            number = CaseRef.model_validate(values).number
            return await releases.unlink(client, limiter, version, number, actor, "unlinked")
        case "start":
            command: Any = ReleaseAction(actor=actor)
            update: Any = ReleaseWorkflow.start
        case "hotfix":
            command = PublishHotfix(build=Build.model_validate(values).build, actor=actor)
            update = ReleaseWorkflow.publish_hotfix
        case "ship":
            command, update = ReleaseAction(actor=actor), ReleaseWorkflow.ship
        case "cancel":
            command = CancelRelease(reason=Reason.model_validate(values).reason, actor=actor)
            update = ReleaseWorkflow.cancel
        case _:
            raise NotFound(f"there is no release action {name!r}")
    return await releases.act(client, limiter, version, update, command)


@router.post("/releases/{version}/{name}", response_class=HTMLResponse)
async def act(request: Request, me: WebUser, version: str, name: str) -> Response:
    """Act on the release; a refusal shows its reason next to the form."""
    allow(me, READERS)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    if name not in BY_NAME:
        raise NotFound(f"there is no release action {name!r}")
    sent = _sent(form)
    if bad := _bad_characters(sent):
        return await _release_page(request, me, version, 422, name, bad, sent)
    try:
        check_role(me.user, MANAGERS)
        await _perform(request, me, version, name, sent)
    except ValidationError as err:
        return await _release_page(request, me, version, 422, name, _reasons(err), sent)
    except (Conflict, Forbidden, NotFound) as err:
        # A release that does not exist makes the page itself a 404 here.
        return await _release_page(request, me, version, err.status, name, err.detail, sent)
    return RedirectResponse(_path(version), status_code=303)
