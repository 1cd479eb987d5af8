"""What every portal page shares: the signed-in customer and their organisation, and the
page frame. Sign-in, sessions, CSRF and headers are the console's own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.responses import HTMLResponse

from api.auth import Principal, article
from api.errors import Forbidden, NotFound
from db.read_model import Organisation
from models.case import Role
from models.notifications import STATUS_WORDS
from policies.format import Catalog
from web.console.base import WebUser, signed_in
from web.render import render
from web.sessions import WebPrincipal

PREFIX = "/portal"
# The portal is the customer's door; staff (admins too) work in the console. A customer
# sees one organisation, theirs, as the API's customer routes hold them to.
PORTAL_ROLES = (Role.customer,)
NAV = (
    ("Cases", PREFIX),
    ("Open a case", f"{PREFIX}/cases/new"),
    ("Notices", f"{PREFIX}/notices"),
    ("Releases", f"{PREFIX}/releases"),
    ("Knowledge base", f"{PREFIX}/kb"),
)
# What a visitor without a session may open: the knowledge base's public articles.
PUBLIC_PAGES = (f"{PREFIX}/kb",)
ERROR_TEMPLATE = "portal/error.html"


@dataclass(frozen=True)
class Customer:
    """A signed-in customer and the organisation they file cases for."""

    web: WebPrincipal
    organisation: Organisation

    @property
    def user(self) -> Principal:
        return self.web.user


def _organisation(engine: Engine, organisation_id: str) -> Organisation | None:
    with Session(engine) as session:
        found = session.get(Organisation, organisation_id)
        if found is not None:
            session.expunge(found)
        return found


async def customer(request: Request, me: WebUser) -> Customer:
    """The signed-in customer; 403 for every other role, in the API's words."""
    if me.user.role not in PORTAL_ROLES or me.user.organisation is None:
        allowed = ", ".join(role.value for role in PORTAL_ROLES)
        raise Forbidden(
            f"{article(me.user.role.value)} may not open this page; allowed: {allowed} "
            "(staff work in the console)"
        )
    found = await asyncio.to_thread(_organisation, request.app.state.engine, me.user.organisation)
    if found is None:
        raise NotFound(f"organisation {me.user.organisation} does not exist")
    return Customer(me, found)


CustomerDep = Annotated[Customer, Depends(customer)]


async def reader(request: Request) -> Customer | None:
    """The signed-in customer, or None for a visitor without a session (the knowledge
    base's public articles are for anyone); staff are refused as by `customer`."""
    found = await signed_in(request)
    if found is None:
        return None
    return await customer(request, found)


ReaderDep = Annotated[Customer | None, Depends(reader)]


def catalog_of(request: Request, organisation: Organisation) -> Catalog | None:
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    return catalogs.get(organisation.catalog)


def current(path: str, link: str) -> bool:
    """Whether a navigation link names the page at `path` (a case is under Cases)."""
    if link == PREFIX:
        return path in (PREFIX, f"{PREFIX}/") or (
            path.startswith(f"{PREFIX}/cases/") and path != f"{PREFIX}/cases/new"
        )
    return path == link or path.startswith(link + "/")


def page(
    request: Request,
    who: Customer | None,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    path = request.url.path
    return render(
        request,
        template,
        {
            "me": who.web if who is not None else None,
            "organisation": who.organisation if who is not None else None,
            "csrf_token": who.web.csrf_token if who is not None else "",
            "path": path,
            "nav": [
                (name, link, current(path, link))
                for name, link in NAV
                if who is not None or link in PUBLIC_PAGES
            ],
            "sign_in": f"/console/sign-in?next={path}" if who is None else None,
            "status_words": STATUS_WORDS,
            **context,
        },
        status_code,
    )
