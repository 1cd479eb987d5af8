"""The portal's routers, in the order they are mounted."""

from __future__ import annotations

from web.portal import cases, kb, new_case, notices, releases

ROUTERS = (
    new_case.router,  # before cases.router: /cases/new is not a case number
    cases.router,
    notices.router,
    releases.router,
    kb.router,
)
