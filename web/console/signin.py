"""Signing in and out of the console."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from settings import Settings
from web import security, sessions
from web.console.base import PREFIX, WebUser, home, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe_next(value: str | None) -> str | None:
    """Only a path of the console or the portal: never another site (an open redirect)."""
    if (
        value
        and value.startswith(security.WEB_PREFIXES)
        and not value.startswith("//")
        and "\\" not in value
    ):
        return value
    return None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _form(
    request: Request, next_path: str | None, status_code: int = 200, **context: object
) -> HTMLResponse:
    token = request.cookies.get(security.PRE_SESSION_COOKIE) or security.new_token()
    response = page(
        request,
        None,
        "console/sign_in.html",
        status_code,
        form_token=token,
        next_path=next_path or "",
        **context,
    )
    response.set_cookie(
        security.PRE_SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.secure_cookies or request.url.scheme == "https"


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return _form(request, _safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    user: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = await request.form()
    next_path = _safe_next(next)
    try:
        security.check_form(request, form, request.cookies.get(security.PRE_SESSION_COOKIE))
    except security.CsrfRefused as err:
        return _form(request, next_path, 403, error=str(err), user_name=user)
    if not user or not password:
        return _form(
            request, next_path, 422, error="enter your user name and password", user_name=user
        )
    settings: Settings = request.app.state.settings
    try:
        cookie, principal = await asyncio.to_thread(
            sessions.sign_in, request.app.state.engine, settings, user, password, _client(request)
        )
    except sessions.TooManyAttempts as err:
        response = _form(request, next_path, 429, error=str(err), user_name=user)
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    except sessions.SignInRefused as err:
        return _form(request, next_path, 401, error=str(err), user_name=user)
    previous = request.cookies.get(sessions.COOKIE)
    if previous:  # signing in again in this browser ends the session it had
        await asyncio.to_thread(
            sessions.end, request.app.state.engine, sessions.digest(previous[:200])
        )
    done = RedirectResponse(next_path or home(principal.user.role), status_code=303)
    done.set_cookie(
        sessions.COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    done.delete_cookie(security.PRE_SESSION_COOKIE, path=PREFIX)
    return done


@router.post("/sign-out")
async def sign_out(request: Request, me: WebUser) -> Response:
    security.check_form(request, await request.form(), me.csrf_token)
    await asyncio.to_thread(sessions.end, request.app.state.engine, me.digest)
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
async def landing(me: WebUser) -> Response:
    return RedirectResponse(home(me.user.role), status_code=303)
