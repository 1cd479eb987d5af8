"""Customer contacts, for the staff who invite them (agents; admins on the Admin page
too): an organisation's customers, whether each can sign in yet, and an invitation for
those who cannot. Who may invite whom is `web.links.INVITERS`, checked again by the
invitation itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Offset
from api.errors import Conflict, NotFound, Unavailable
from db.invitations import PasswordLink
from db.read_model import Organisation, User, utcnow
from models.case import Role
from web import links, security
from web.console.base import CONTACT_KEEPERS, PREFIX, WebUser, allow, page
from web.sessions import WebPrincipal

router = APIRouter(prefix=f"{PREFIX}/contacts", include_in_schema=False)
PAGE_SIZE = 50
UserId = Annotated[str, Path(min_length=1, max_length=200)]
OrganisationId = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9._-]*$")]


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    email: str | None
    organisation: str | None
    password_set_at: datetime | None
    invited_until: datetime | None  # an unused invitation that still works


@dataclass(frozen=True)
class Contacts:
    items: list[Contact]
    total: int
    organisations: list[tuple[str, str]]


def _contacts(engine: Engine, organisation: str | None, offset: int) -> Contacts:
    conditions = [col(User.role) == Role.customer.value]
    if organisation:
        conditions.append(col(User.organisation) == organisation)
    now = utcnow()
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(User).where(*conditions)).one()
        rows = session.exec(
            select(User)
            .where(*conditions)
            .order_by(col(User.organisation), col(User.id))
            .limit(PAGE_SIZE)
            .offset(offset)
        ).all()
        ids = [row.id for row in rows]
        invited = dict(
            session.exec(
                select(PasswordLink.user_id, func.max(PasswordLink.expires_at))
                .where(col(PasswordLink.user_id).in_(ids))
                .where(col(PasswordLink.purpose) == links.Purpose.invite.value)
                .where(col(PasswordLink.used_at).is_(None))
                .where(col(PasswordLink.expires_at) > now)
                .group_by(col(PasswordLink.user_id))
            ).all()
        )
        organisations = [
            (row.id, row.name)
            for row in session.exec(select(Organisation).order_by(col(Organisation.name))).all()
        ]
    items = [
        Contact(
            row.id,
            row.name,
            row.email,
            row.organisation,
            row.password_set_at,
            # A link made before the password was set no longer works.
            None if row.password_set_at else invited.get(row.id),
        )
        for row in rows
    ]
    return Contacts(items, total, organisations)


def _customer(engine: Engine, user_id: str) -> None:
    """404 unless the user is a customer: this page invites contacts, nobody else."""
    with Session(engine) as session:
        row = session.get(User, user_id)
    if row is None or row.role != Role.customer.value:
        raise NotFound(f"customer {user_id} does not exist")


async def _page(
    request: Request,
    me: WebPrincipal,
    organisation: str | None,
    offset: int,
    status_code: int = 200,
    done: str | None = None,
    refused: tuple[str, str] | None = None,
) -> HTMLResponse:
    found = await asyncio.to_thread(
        _contacts, request.app.state.engine, organisation or None, offset
    )
    settings = request.app.state.settings
    return page(
        request,
        me,
        "console/contacts.html",
        status_code,
        contacts=found,
        organisation=organisation or "",
        offset=offset,
        page_size=PAGE_SIZE,
        invite_hours=settings.invite_link_hours,
        done=done,
        refused=refused,
    )


@router.get("", response_class=HTMLResponse)
async def contact_list(
    request: Request,
    me: WebUser,
    organisation: OrganisationId = None,
    offset: Offset = 0,
    invited: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Customers, by organisation, with what each needs to sign in."""
    allow(me, CONTACT_KEEPERS)
    done = f"Invitation sent to {invited}." if invited else None
    return await _page(request, me, organisation, offset, done=done)


@router.post("/{user_id}/invite", response_class=HTMLResponse)
async def invite(request: Request, me: WebUser, user_id: UserId) -> Response:
    """E-mail the contact a link to choose their first password."""
    allow(me, CONTACT_KEEPERS)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    engine, settings = request.app.state.engine, request.app.state.settings
    await asyncio.to_thread(_customer, engine, user_id)
    back = form.get("organisation")
    organisation = back if isinstance(back, str) and len(back) <= 100 else ""
    try:
        await links.invite(engine, settings, links.base_url(request), user_id, me.user)
    except (Conflict, Unavailable) as err:
        return await _page(request, me, organisation, 0, err.status, refused=(user_id, err.detail))
    query = urlencode({"organisation": organisation, "invited": user_id})
    return RedirectResponse(f"{PREFIX}/contacts?{query}", status_code=303)
