"""One error, one status: every domain error the API lets through answers with the status
and title of its single entry in `api.errors.DOMAIN_PROBLEMS`, whichever route raised it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from api import errors
from audit.history import CaseNotFound, HistoryProblem
from tests.conftest import serve


@pytest.mark.parametrize("error_type", list(errors.DOMAIN_PROBLEMS))
async def test_each_domain_error_has_one_status_on_every_route(error_type: type) -> None:
    app = FastAPI()
    errors.install(app)
    made = CaseNotFound(7) if error_type is CaseNotFound else error_type("what went wrong")

    @app.get("/timeline")
    async def timeline() -> None:
        raise made

    @app.get("/what-if")
    async def what_if() -> None:
        raise made

    server, task, base_url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            answers = [await client.get(path) for path in ("/timeline", "/what-if")]
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task
    status, title = errors.DOMAIN_PROBLEMS[error_type]
    for answer in answers:
        assert answer.status_code == status
        assert answer.headers["content-type"] == errors.PROBLEM_JSON
        assert answer.json()["title"] == title
        assert answer.json()["detail"] == str(made)


def test_a_history_problem_is_a_conflict_not_a_missing_case() -> None:
    assert errors.DOMAIN_PROBLEMS[HistoryProblem][0] == 409
    assert errors.DOMAIN_PROBLEMS[CaseNotFound][0] == 404
