"""The console's admin pages: organisations, users, their tokens and console passwords,
and invitations by e-mail.

Each form is checked by the API's own models and rules (`OrganisationCreate` and
`api.organisations.create`, `UserCreate`, `TokenCreate`, `PasswordSet` and
`passwords.problem`, `auth.issue_token`, `auth.revoke`, `sessions.set_password`,
`links.invite`); a refusal shows next to its form with the API's status (409, 422 or 503)
and reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import auth, organisations
from api.deps import MAX_ID
from api.errors import Conflict, InvalidField, NotFound, Unavailable
from api.schemas import (
    OrganisationCreate,
    PasswordSet,
    TokenCreate,
    TokenRead,
    UserCreate,
    UserRead,
)
from api.text import SINGLE_LINE, bad_character
from db.read_model import ApiToken, Organisation, User, WebSession, write_lock
from models.case import USER_ROLES, Role
from policies.format import Catalog
from policies.plan_ref import PlanRef
from settings import Settings
from web import links, passwords, security, sessions
from web.console.base import PREFIX, WebUser, allow, page
from web.sessions import WebPrincipal

Model = TypeVar("Model", bound=BaseModel)
ADMIN = f"{PREFIX}/admin"
router = APIRouter(prefix=ADMIN, include_in_schema=False)
UserId = Annotated[str, Path(min_length=1, max_length=200)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
# How a refusal names a field: the form's label, not the API's `body.<field>`.
LABELS = {
    "id": "ID",
    "name": "Name",
    "plan": "Plan",
    "addons": "Add-ons",
    "contact_emails": "Contact e-mail",
    "webhook_url": "Webhook URL",
    "dedicated_engineer": "Dedicated engineer",
    "email": "E-mail",
    "role": "Role",
    "organisation": "Organisation",
    "tiers": "Tiers",
    "label": "Label",
    "password": "New password",
    "confirmation": "Repeat the new password",
}
# What a redirect after a form says on the next page (fixed texts: nothing from the URL
# is shown).
DONE = {
    "created": "User created. Set their console password or issue them a token below.",
    "password": "Password set. Their console sessions have ended.",
    "revoked": "Token revoked: it stops working at once. Their console sessions have ended.",
    "invited": "Invitation sent by e-mail: its link works once, for {hours} hours.",
}


@dataclass(frozen=True)
class Refusal:
    """A form sent back: why, and what was typed (passwords never)."""

    reason: str
    sent: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True)
class OrganisationRow:
    organisation: Organisation
    plan: str
    plan_name: str | None
    users: int


@dataclass(frozen=True)
class UserRow:
    user: UserRead
    password_set_at: datetime | None
    active_tokens: int


# Reading the read model (on a worker thread).


def _organisation_rows(engine: Engine, catalogs: dict[str, Catalog]) -> list[OrganisationRow]:
    names = {
        str(PlanRef(catalog.id, plan.id)): plan.name
        for catalog in catalogs.values()
        for plan in catalog.plans
    }
    with Session(engine) as session:
        rows = session.exec(select(Organisation).order_by(col(Organisation.id))).all()
        members = dict(
            session.exec(
                select(User.organisation, func.count())
                .where(col(User.organisation).is_not(None))
                .group_by(col(User.organisation))
            ).all()
        )
    made = []
    for row in rows:
        plan = str(PlanRef(row.catalog, row.plan))
        made.append(OrganisationRow(row, plan, names.get(plan), members.get(row.id, 0)))
    return made


def _user_rows(engine: Engine) -> list[UserRow]:
    with Session(engine) as session:
        rows = session.exec(select(User).order_by(col(User.id))).all()
        active = dict(
            session.exec(
                select(ApiToken.user_id, func.count())
                .where(col(ApiToken.revoked_at).is_(None))
                .group_by(col(ApiToken.user_id))
            ).all()
        )
    return [
        UserRow(
            UserRead.model_validate(row, from_attributes=True),
            row.password_set_at,
            active.get(row.id, 0),
        )
        for row in rows
    ]


def _user_detail(engine: Engine, user_id: str) -> tuple[UserRow, list[TokenRead], int]:
    """The user, their tokens (newest first) and how many console sessions they have open."""
    with Session(engine) as session:
        row = session.get(User, user_id)
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        tokens = session.exec(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id).desc())
        ).all()
        open_sessions = session.exec(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)
        ).one()
    listed = [TokenRead.model_validate(token, from_attributes=True) for token in tokens]
    active = sum(1 for token in listed if token.revoked_at is None)
    user = UserRow(UserRead.model_validate(row, from_attributes=True), row.password_set_at, active)
    return user, listed, open_sessions


# Writing it: the API routes' rules (api/routes/users.py, api/organisations.py).


def _create_organisation(
    engine: Engine, catalogs: dict[str, Catalog], body: OrganisationCreate
) -> None:
    with write_lock(engine), Session(engine) as session:
        organisations.create(session, catalogs, body)


def _create_user(engine: Engine, body: UserCreate) -> None:
    """As `api.routes.users.create_user`."""
    with write_lock(engine), Session(engine) as session:
        if (body.role is Role.customer) != (body.organisation is not None):
            raise InvalidField("body.organisation", "customers need one; other roles have none")
        if body.organisation and session.get(Organisation, body.organisation) is None:
            raise InvalidField(
                "body.organisation", f"organisation {body.organisation} does not exist"
            )
        if session.get(User, body.id) is not None:
            raise Conflict(f"user {body.id} exists already")
        session.add(User(**body.model_dump(mode="json")))
        session.commit()


def _issue_token(engine: Engine, user_id: str, body: TokenCreate) -> tuple[TokenRead, str]:
    with write_lock(engine), Session(engine) as session:
        if session.get(User, user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        row, token = auth.issue_token(session, user_id, body.label)
        return TokenRead.model_validate(row, from_attributes=True), token


def _revoke_token(engine: Engine, token_id: int) -> TokenRead:
    with write_lock(engine), Session(engine) as session:
        row = auth.revoke(session, token_id)
        if row is None:
            raise NotFound(f"token {token_id} does not exist")
        return TokenRead.model_validate(row, from_attributes=True)


def _set_password(engine: Engine, user_id: str, password: str) -> None:
    """As `api.routes.users.set_password`: the user's console sessions end."""
    with write_lock(engine), Session(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        sessions.set_password(session, user, password)
        session.commit()


# Forms.


def _where(location: tuple[str | int, ...] | list[str]) -> str:
    """`("contact_emails", 1)` -> `Contact e-mail 2`."""
    parts = []
    for part in location:
        if isinstance(part, int):
            parts.append(str(part + 1))
        else:
            parts.append(LABELS.get(part, part))
    return " ".join(parts) or "Form"


def _refused(err: Refused | ValidationError | InvalidField | Conflict) -> Refused:
    if isinstance(err, Refused):
        return err
    if isinstance(err, ValidationError):
        reasons = [f"{_where(e['loc'])}: {e['msg']}" for e in err.errors()]
        return Refused(422, "; ".join(reasons))
    if isinstance(err, InvalidField):
        reasons = [
            f"{_where(str(e['field']).removeprefix('body.').split('.'))}: {e['message']}"
            for e in err.extra["errors"]
        ]
        return Refused(422, "; ".join(reasons))
    return Refused(err.status, err.detail)


def _texts(form: FormData, *names: str) -> dict[str, str]:
    """The form's text fields, refused (422) if one holds a control character the API
    would refuse (`api.text`)."""
    sent = {}
    for name in names:
        value = form.get(name)
        sent[name] = value if isinstance(value, str) else ""
    bad = [
        f"{_where([name])}: {problem}"
        for name, value in sent.items()
        if (problem := bad_character(value, single_line=name in SINGLE_LINE))
    ]
    if bad:
        raise Refused(422, "; ".join(bad))
    return sent


def _validate(model: type[Model], values: dict[str, Any]) -> Model:
    try:
        return model.model_validate(values)
    except ValidationError as err:
        raise _refused(err) from None


async def _checked_form(request: Request, me: WebPrincipal) -> FormData:
    allow(me, ())
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    return form


# Pages.


def _user_path(user_id: str) -> str:
    return f"{ADMIN}/users/{quote(user_id, safe='')}"


def _plan_choices(catalogs: dict[str, Catalog]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every plan of the loaded catalogs, grouped by catalog: (catalog name, [(ref, name)])."""
    return [
        (
            f"{catalog.name} ({catalog.id})",
            [(str(PlanRef(catalog.id, plan.id)), plan.name) for plan in catalog.plans],
        )
        for catalog in sorted(catalogs.values(), key=lambda c: c.id)
    ]


async def _overview(
    request: Request,
    me: WebPrincipal,
    status_code: int = 200,
    created: str | None = None,
    organisation_form: Refusal | None = None,
    user_form: Refusal | None = None,
) -> HTMLResponse:
    engine, catalogs = request.app.state.engine, request.app.state.catalogs
    organisation_rows = await asyncio.to_thread(_organisation_rows, engine, catalogs)
    user_rows = await asyncio.to_thread(_user_rows, engine)
    return page(
        request,
        me,
        "console/admin.html",
        status_code,
        organisations=organisation_rows,
        users=user_rows,
        plans=_plan_choices(catalogs),
        roles=USER_ROLES,
        # Named only when it is in the list: the URL's text is not shown as a fact.
        created=next(
            (r.organisation.id for r in organisation_rows if r.organisation.id == created), None
        ),
        organisation_form=organisation_form or Refusal(""),
        user_form=user_form or Refusal(""),
    )


async def _user_page(
    request: Request,
    me: WebPrincipal,
    user_id: str,
    status_code: int = 200,
    done: str | None = None,
    token_form: Refusal | None = None,
    password_form: Refusal | None = None,
    invite_form: Refusal | None = None,
) -> HTMLResponse:
    user, tokens, open_sessions = await asyncio.to_thread(
        _user_detail, request.app.state.engine, user_id
    )
    settings: Settings = request.app.state.settings
    return page(
        request,
        me,
        "console/admin_user.html",
        status_code,
        row=user,
        tokens=tokens,
        open_sessions=open_sessions,
        done=DONE.get(done or "", "").format(hours=settings.invite_link_hours) or None,
        token_form=token_form or Refusal(""),
        password_form=password_form or Refusal(""),
        invite_form=invite_form or Refusal(""),
        invite_hours=settings.invite_link_hours,
        min_length=passwords.MIN_LENGTH,
    )


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request,
    me: WebUser,
    created: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Organisations and users, and a form to add each."""
    allow(me, ())
    return await _overview(request, me, created=created)


@router.post("/organisations", response_class=HTMLResponse)
async def create_organisation(request: Request, me: WebUser) -> Response:
    form = await _checked_form(request, me)
    sent: dict[str, Any] = {}
    try:
        sent = _texts(
            form, "id", "name", "plan", "contact_emails", "webhook_url", "dedicated_engineer"
        )
        values: dict[str, Any] = {name: value for name, value in sent.items() if value.strip()}
        values["contact_emails"] = [
            line.strip() for line in sent["contact_emails"].splitlines() if line.strip()
        ]
        body = _validate(OrganisationCreate, values)
        await asyncio.to_thread(
            _create_organisation, request.app.state.engine, request.app.state.catalogs, body
        )
    except (Refused, InvalidField, Conflict) as err:
        refused = _refused(err)
        return await _overview(
            request, me, refused.status_code, organisation_form=Refusal(refused.reason, sent)
        )
    return RedirectResponse(f"{ADMIN}?created={body.id}#organisations", status_code=303)


@router.post("/users", response_class=HTMLResponse)
async def create_user(request: Request, me: WebUser) -> Response:
    form = await _checked_form(request, me)
    tiers = [value for value in form.getlist("tiers") if isinstance(value, str)]
    sent: dict[str, Any] = {"tiers": tiers}
    try:
        sent |= _texts(form, "id", "name", "email", "role", "organisation")
        values: dict[str, Any] = {name: value for name, value in sent.items() if value}
        values["tiers"] = [
            int(tier) if tier.isascii() and tier.isdigit() else tier for tier in tiers
        ]
        body = _validate(UserCreate, values)
        await asyncio.to_thread(_create_user, request.app.state.engine, body)
    except (Refused, InvalidField, Conflict) as err:
        refused = _refused(err)
        return await _overview(
            request, me, refused.status_code, user_form=Refusal(refused.reason, sent)
        )
    return RedirectResponse(f"{_user_path(body.id)}?done=created", status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_page(
    request: Request,
    me: WebUser,
    user_id: UserId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A user: their tokens and console password."""
    allow(me, ())
    return await _user_page(request, me, user_id, done=done)


@router.post("/users/{user_id}/tokens", response_class=HTMLResponse)
async def issue_token(request: Request, me: WebUser, user_id: UserId) -> Response:
    form = await _checked_form(request, me)
    sent: dict[str, Any] = {}
    try:
        sent = _texts(form, "label")
        body = _validate(TokenCreate, sent)
    except Refused as err:
        return await _user_page(
            request, me, user_id, err.status_code, token_form=Refusal(err.reason, sent)
        )
    token, secret = await asyncio.to_thread(_issue_token, request.app.state.engine, user_id, body)
    return page(
        request,
        me,
        "console/admin_secret.html",
        201,
        user_id=user_id,
        heading=f"Token {token.id} for {user_id}",
        secret_label="Bearer token",
        secret=secret,
        note="Shown this once: Tierline keeps only its digest. Copy it now.",
    )


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke_token(request: Request, me: WebUser, token_id: TokenId) -> Response:
    await _checked_form(request, me)
    token = await asyncio.to_thread(_revoke_token, request.app.state.engine, token_id)
    # Revoking one's own token ends one's own session: the next page asks to sign in.
    return RedirectResponse(f"{_user_path(token.user_id)}?done=revoked", status_code=303)


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
async def set_password(request: Request, me: WebUser, user_id: UserId) -> Response:
    form = await _checked_form(request, me)
    try:
        sent = _texts(form, "password", "confirmation")
        body = _validate(PasswordSet, {"password": sent["password"]})
        wrong = passwords.problem(body.password)
        if wrong is not None:
            raise Refused(422, f"{LABELS['password']}: {wrong}")
        if sent["confirmation"] != body.password:
            raise Refused(422, "the two passwords differ")
    except Refused as err:
        return await _user_page(
            request, me, user_id, err.status_code, password_form=Refusal(err.reason)
        )
    await asyncio.to_thread(_set_password, request.app.state.engine, user_id, body.password)
    return RedirectResponse(f"{_user_path(user_id)}?done=password", status_code=303)


@router.post("/users/{user_id}/password/reset", response_class=HTMLResponse)
async def reset_password(request: Request, me: WebUser, user_id: UserId) -> Response:
    await _checked_form(request, me)
    password = passwords.new_password()
    await asyncio.to_thread(_set_password, request.app.state.engine, user_id, password)
    return page(
        request,
        me,
        "console/admin_secret.html",
        200,
        user_id=user_id,
        heading=f"New password for {user_id}",
        secret_label="Password",
        secret=password,
        note="Shown this once: give it to them by a safe way. Their console sessions have ended.",
    )


@router.post("/users/{user_id}/invite", response_class=HTMLResponse)
async def invite(request: Request, me: WebUser, user_id: UserId) -> Response:
    await _checked_form(request, me)
    engine, settings = request.app.state.engine, request.app.state.settings
    try:
        await links.invite(engine, settings, links.base_url(request), user_id, me.user)
    except (Conflict, Unavailable) as err:
        return await _user_page(request, me, user_id, err.status, invite_form=Refusal(err.detail))
    return RedirectResponse(f"{_user_path(user_id)}?done=invited", status_code=303)
