"""Pages a one-time link opens, before any session: choosing the first password from an
invitation (`/console/welcome`), asking for a reset (`/console/forgot`) and choosing a
new password from one (`/console/reset`). Their forms carry the sign-in form's
double-submit CSRF token (`security.PRE_SESSION_COOKIE`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from api.text import bad_character
from settings import Settings
from web import passwords, security, sessions
from web.console.base import PREFIX, page
from web.links import (
    LinkUnusable,
    Purpose,
    base_url,
    look_up,
    note_reset_request,
    send_resets,
    use,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Token = Annotated[str, Query(max_length=200)]
PAGES = {Purpose.invite: "console/welcome.html", Purpose.reset: "console/reset.html"}
# The longest user name or e-mail address the forgotten-password form takes.
MAX_WHO = 320


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _pre_session(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page whose form carries the pre-session CSRF token, and that token's cookie."""
    token = request.cookies.get(security.PRE_SESSION_COOKIE) or security.new_token()
    response = page(request, None, template, status_code, form_token=token, **context)
    settings: Settings = request.app.state.settings
    response.set_cookie(
        security.PRE_SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies or request.url.scheme == "https",
        path=PREFIX,
    )
    return response


async def _link_page(
    request: Request, purpose: Purpose, token: str, status_code: int = 200, error: str = ""
) -> HTMLResponse:
    """The form to choose a password through the link, or why the link does nothing."""
    try:
        holder = await asyncio.to_thread(look_up, request.app.state.engine, token, purpose)
    except LinkUnusable as err:
        return page(request, None, PAGES[purpose], err.status_code, unusable=err.reason)
    return _pre_session(
        request,
        PAGES[purpose],
        status_code,
        holder=holder,
        token=token,
        error=error,
        min_length=passwords.MIN_LENGTH,
    )


async def _choose_password(request: Request, purpose: Purpose) -> Response:
    form = await request.form()
    token = _text(form, "token")[:200]
    try:
        security.check_form(request, form, request.cookies.get(security.PRE_SESSION_COOKIE))
    except security.CsrfRefused as err:
        return await _link_page(request, purpose, token, 403, str(err))
    password, confirmation = _text(form, "password"), _text(form, "confirmation")
    wrong = passwords.problem(password) or bad_character(password, single_line=True)
    if wrong is not None:
        return await _link_page(request, purpose, token, 422, f"New password: {wrong}")
    if confirmation != password:
        return await _link_page(request, purpose, token, 422, "the two passwords differ")
    try:
        user_id = await asyncio.to_thread(use, request.app.state.engine, token, purpose, password)
    except LinkUnusable as err:
        return page(request, None, PAGES[purpose], err.status_code, unusable=err.reason)
    response = page(request, None, PAGES[purpose], done=True, user_id=user_id)
    response.delete_cookie(security.PRE_SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/welcome", response_class=HTMLResponse)
async def welcome_form(request: Request, token: Token = "") -> Response:
    return await _link_page(request, Purpose.invite, token)


@router.post("/welcome", response_class=HTMLResponse)
async def welcome(request: Request) -> Response:
    return await _choose_password(request, Purpose.invite)


@router.get("/reset", response_class=HTMLResponse)
async def reset_form(request: Request, token: Token = "") -> Response:
    return await _link_page(request, Purpose.reset, token)


@router.post("/reset", response_class=HTMLResponse)
async def reset(request: Request) -> Response:
    return await _choose_password(request, Purpose.reset)


@router.get("/forgot", response_class=HTMLResponse)
async def forgot_form(request: Request) -> Response:
    return _pre_session(request, "console/forgot.html")


@router.post("/forgot", response_class=HTMLResponse)
async def forgot(request: Request) -> Response:
    form = await request.form()
    who = _text(form, "who").strip()
    try:
        security.check_form(request, form, request.cookies.get(security.PRE_SESSION_COOKIE))
    except security.CsrfRefused as err:
        return _pre_session(request, "console/forgot.html", 403, error=str(err), who=who)
    if not who or len(who) > MAX_WHO or bad_character(who, single_line=True):
        error = "enter your user name or e-mail address"
        return _pre_session(request, "console/forgot.html", 422, error=error, who=who[:MAX_WHO])
    engine = request.app.state.engine
    try:
        await asyncio.to_thread(note_reset_request, engine, _client(request))
    except sessions.TooManyAttempts as err:
        response = _pre_session(request, "console/forgot.html", 429, error=str(err), who=who)
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    # The same answer, as fast, whether anyone by that name exists: the mail goes after it.
    settings: Settings = request.app.state.settings
    response = page(
        request,
        None,
        "console/forgot.html",
        sent=True,
        reset_minutes=settings.reset_link_minutes,
    )
    response.background = BackgroundTask(send_resets, engine, settings, base_url(request), who)
    response.delete_cookie(security.PRE_SESSION_COOKIE, path=PREFIX)
    return response
