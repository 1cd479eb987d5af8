"""What every web page gets: security headers, and the CSRF check of every form.

CSRF: a form carries its session's token (`csrf_token`, compared in constant time), and a
browser's `Origin` or `Sec-Fetch-Site` header, when sent, must name this site. The sign-in
form, before any session, carries a token that must equal its cookie (double submit).
Hand-written rather than starlette-csrf, which checks a header that plain HTML forms
cannot send.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every script, style, image and font from the app itself; no inline script or style, no
# framing, forms only to this site, and no plugins.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
WEB_PREFIXES = ("/console", "/portal")
PRE_SESSION_COOKIE = "tierline_csrf"


class SecurityHeadersMiddleware:
    """Adds `HEADERS` to every response under the web prefixes (not to /docs, whose
    Swagger UI needs an inline script)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(WEB_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend(item for item in HEADERS if item[0] not in present)
                if b"cache-control" not in present and not path.startswith("/console/static"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class CsrfRefused(Exception):
    """A form that did not come from this site's own page."""


def same_site(request: Request) -> bool:
    """False when the browser says the request comes from another origin.

    `Sec-Fetch-Site`, where the browser sends it, decides alone. Otherwise `Origin` must
    name this host and port; its scheme is not compared, since behind a TLS proxy that
    does not pass the scheme on the app sees http where the browser says https."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no browser said where it came from; the token still has to match
    sent = urlsplit(origin)
    return sent.scheme in ("http", "https") and sent.netloc == request.url.netloc


def check_form(request: Request, form: FormData, expected: str | None) -> None:
    """Refuse a form unless it carries `expected` and comes from this site."""
    sent = form.get("csrf_token")
    if (
        not same_site(request)
        or expected is None
        or not isinstance(sent, str)
        or not secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused("the form did not come from this site, or its page is too old")


def new_token() -> str:
    return secrets.token_urlsafe(32)
