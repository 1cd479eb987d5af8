"""What every console page shares: who is signed in, what their role may open, and the
page frame's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import HTMLResponse

from api.auth import article
from api.errors import Forbidden
from api.knowledge import STAFF_ROLES as KB_READERS
from api.routes.audit import AUDIT_ROLES
from api.routes.queues import QUEUE_ROLES
from api.routes.releases import READER_ROLES as RELEASE_READERS
from models.case import Role
from policies.format import Catalog
from settings import Settings
from web import sessions
from web.links import INVITERS
from web.render import render

PREFIX = "/console"
STAFF = (Role.agent, Role.release_manager, Role.auditor, Role.admin)
# Who sees the customer contacts and invites them: the roles that may invite customers
# (web.links.INVITERS; admins invite anyone, on the Admin page too).
CONTACT_KEEPERS = tuple(role for role, whom in INVITERS.items() if Role.customer in whom)
# Who logs a call or chat as a new case from the console (customers open theirs on the
# portal); admins may too.
CASE_OPENERS = (Role.agent,)


@dataclass(frozen=True)
class Section:
    """A page of the console's navigation and the roles that may open it (admins may
    open every one). The API's routes behind each page check the same roles."""

    name: str
    path: str
    roles: tuple[Role, ...]


SECTIONS = (
    Section("Queues", f"{PREFIX}/queues/1", QUEUE_ROLES),
    Section("Releases", f"{PREFIX}/releases", RELEASE_READERS),
    Section("Knowledge base", f"{PREFIX}/kb", KB_READERS),
    Section("Contacts", f"{PREFIX}/contacts", CONTACT_KEEPERS),
    Section("Audit", f"{PREFIX}/audit", AUDIT_ROLES),
    Section("Admin", f"{PREFIX}/admin", ()),
)


def may_open(role: Role, roles: tuple[Role, ...]) -> bool:
    return role is Role.admin or role in roles


class SignInNeeded(Exception):
    """No session: the page answers with the sign-in form's address."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


def sign_in_url(next_path: str) -> str:
    return f"{PREFIX}/sign-in?next={quote(next_path, safe='/')}"


# The parts a page's script fetches when the server pushes a change (`?part=`): the
# screen keeping itself current, not the user at work, so they leave the idle time running.
LIVE_PARTS = frozenset({"rows", "live", "actions"})


async def signed_in(request: Request) -> sessions.WebPrincipal | None:
    """The request's session's user, or None without a (live) session."""
    import asyncio

    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(sessions.COOKIE)
    touch = request.query_params.get("part") not in LIVE_PARTS
    return await asyncio.to_thread(
        sessions.lookup, request.app.state.engine, settings, cookie, touch
    )


async def web_user(request: Request) -> sessions.WebPrincipal:
    found = await signed_in(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target if request.method == "GET" else PREFIX)
    return found


WebUser = Annotated[sessions.WebPrincipal, Depends(web_user)]


def severity_name(catalog: Catalog | None, severity: str) -> str | None:
    """The severity's name in the catalog; None where the catalog is unknown or lacks it."""
    levels = catalog.severities if catalog is not None else []
    return next((level.name for level in levels if level.id == severity), None)


def allow(user: sessions.WebPrincipal, roles: tuple[Role, ...]) -> None:
    """403 unless the user's role may open this (the same words as the API's)."""
    if not may_open(user.user.role, roles):
        allowed = ", ".join(dict.fromkeys(role.value for role in (*roles, Role.admin)))
        role = article(user.user.role.value)
        raise Forbidden(f"{role} may not open this page; allowed: {allowed}")


def home(role: Role) -> str:
    """Where a role lands after signing in: customers on the portal; a staff role with no
    section on the queues, which tell it why it may not open them."""
    if role is Role.customer:
        return "/portal"
    for section in SECTIONS:
        if may_open(role, section.roles):
            return section.path
    return SECTIONS[0].path


def page(
    request: Request,
    user: sessions.WebPrincipal | None,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    sections = (
        [s for s in SECTIONS if may_open(user.user.role, s.roles)] if user is not None else []
    )
    return render(
        request,
        template,
        {
            "me": user,
            "sections": sections,
            # Whether the user's role may use what these roles may (buttons and links
            # follow the same role sets as the routes behind them).
            "may": lambda roles: user is not None and may_open(user.user.role, roles),
            "case_openers": CASE_OPENERS,
            "audit_roles": AUDIT_ROLES,
            "csrf_token": user.csrf_token if user is not None else "",
            "path": request.url.path,
            **context,
        },
        status_code,
    )
