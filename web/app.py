"""Mounts the web pages on the API's application: routes, static assets, headers, and
error pages in place of problem documents under the web prefixes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from api.errors import DOMAIN_PROBLEMS, TierlineError
from web import security
from web.console import (
    admin,
    audit,
    base,
    cases,
    contacts,
    events,
    kb,
    links,
    new_case,
    queues,
    releases,
    signin,
)
from web.links import RedactLinkTokens
from web.portal import base as portal
from web.portal.routes import ROUTERS as PORTAL_ROUTERS
from web.render import STATIC, reasons

ROUTERS = (
    signin.router,
    links.router,
    queues.router,
    new_case.router,  # before cases.router: /cases/new is not a case number
    cases.router,
    events.router,
    releases.router,
    audit.router,
    kb.router,
    contacts.router,
    admin.router,
    *PORTAL_ROUTERS,
)


def _error_page(request: Request, status_code: int, detail: str) -> Response:
    """The portal's own error page under /portal, the console's elsewhere."""
    if request.url.path.startswith(portal.PREFIX):
        return portal.page(request, None, portal.ERROR_TEMPLATE, status_code, detail=detail)
    return base.page(request, None, "console/error.html", status_code, detail=detail)


def _html_errors(app: FastAPI) -> None:
    """Under the web prefixes a refusal is a page (or, without a session, the sign-in
    form); elsewhere the API's problem document as before."""
    api_handlers = dict(app.exception_handlers)

    def wrap(kind: type[Exception]) -> None:
        api_handler = api_handlers[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if not request.url.path.startswith(security.WEB_PREFIXES):
                response: Response = await api_handler(request, exc)
                return response
            if isinstance(exc, TierlineError):
                status_code, detail = exc.status, exc.detail
            elif type(exc) in DOMAIN_PROBLEMS:
                status_code, detail = DOMAIN_PROBLEMS[type(exc)][0], str(exc)
            elif isinstance(exc, StarletteHTTPException):
                status_code, detail = exc.status_code, str(exc.detail)
            elif isinstance(exc, RequestValidationError):
                status_code = 422
                detail = reasons(exc.errors())
            else:
                status_code, detail = 400, str(exc)
            return _error_page(request, status_code, detail)

        app.add_exception_handler(kind, handler)

    for kind in (TierlineError, StarletteHTTPException, RequestValidationError, *DOMAIN_PROBLEMS):
        wrap(kind)

    api_unexpected = api_handlers[Exception]

    async def unexpected(request: Request, exc: Exception) -> Response:
        """A page's unexpected error: the API's handler logs it with a correlation id, and
        the page quotes it. Starlette answers this outside every middleware, so the page
        carries the security headers itself."""
        problem: Response = await api_unexpected(request, exc)
        if not request.url.path.startswith(security.WEB_PREFIXES):
            return problem
        correlation_id = problem.headers.get("X-Correlation-Id", "")
        detail = f"Something went wrong on our side; quote correlation id {correlation_id}."
        try:
            response = _error_page(request, 500, detail)
        except Exception:  # the page itself failed: its words alone
            response = PlainTextResponse(detail, status_code=500)
        response.headers["X-Correlation-Id"] = correlation_id
        for name, value in (*security.HEADERS, (b"cache-control", b"no-store")):
            response.headers[name.decode()] = value.decode()
        return response

    app.add_exception_handler(Exception, unexpected)

    @app.exception_handler(base.SignInNeeded)
    async def _sign_in(request: Request, exc: base.SignInNeeded) -> Response:
        return RedirectResponse(base.sign_in_url(exc.next_path), status_code=303)

    @app.exception_handler(security.CsrfRefused)
    async def _csrf(request: Request, exc: security.CsrfRefused) -> Response:
        return _error_page(request, 403, str(exc))


def install(app: FastAPI) -> None:
    """Add the console to the app (after the API's error handlers are installed)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkTokens) for f in access.filters):
        access.addFilter(RedactLinkTokens())
    app.add_middleware(security.SecurityHeadersMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{base.PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    _html_errors(app)
