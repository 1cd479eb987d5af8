"""/health says the API process serves, and nothing more: it touches no dependency (what
the API depends on is /ready's, tests/api/test_ready.py)."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_health_says_the_process_serves(api: Api) -> None:
    response = await api.anonymous.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
