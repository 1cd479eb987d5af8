"""Whatever a client sends, the answer is a problem document: bad input a 4xx naming what
is wrong, and anything unexpected a 500 whose correlation id is also in the log."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI

from api import errors
from tests.api.conftest import Api
from tests.builders import case_body
from tests.conftest import serve

PROBLEM = "application/problem+json"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("keyed", [True, False])
async def test_json_nested_too_deeply_is_a_400_problem(api: Api, keyed: bool) -> None:
    headers = {"Content-Type": "application/json"}
    if keyed:
        headers["Idempotency-Key"] = "deep"
    response = await api.admin.post("/organisations", content=nested(100_000), headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 400
    # Nothing was kept under the key: the same key with a good body runs.
    good = {"id": "deep", "name": "Deep", "plan": "us-software-002:standard"}
    again = await api.admin.post("/organisations", json=good, headers={"Idempotency-Key": "deep"})
    assert again.status_code == 201


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "8999-12-31T23:59:59-12:00"]
)
async def test_an_instant_out_of_range_is_a_422_naming_it(api: Api, at: str) -> None:
    opened = await api.ann.post("/cases", json=case_body())
    number = opened.json()["number"]
    response = await api.ada.get(f"/audit/cases/{number}/as-of", params={"at": at})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["query.at"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/audit/cases", {"closed_from": "9999-12-31T23:59:59Z"}, "query.closed_from"),
        ("/audit/attainment", {"until": "9999-12-31"}, "query.until"),
        ("/cases", {"due_before": "0001-01-01T00:00:00+05:00"}, "query.due_before"),
    ],
)
async def test_other_instants_and_days_out_of_range(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    response = await api.admin.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_an_unexpected_error_is_a_500_problem_with_a_logged_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/fails")
    async def fails() -> None:
        raise ZeroDivisionError("division by zero")

    server, task, base_url = await serve(app)
    try:
        with caplog.at_level(logging.ERROR, logger="tierline.api"):
            async with httpx.AsyncClient(base_url=base_url) as client:
                response = await client.get("/fails")
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    correlation_id = problem["correlation_id"]
    assert response.headers["X-Correlation-Id"] == correlation_id
    assert correlation_id in problem["detail"]
    assert "division" not in response.text  # no internals to the client
    logged = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert len(logged) == 1
    assert "ZeroDivisionError" in logged[0].getMessage()
    assert logged[0].exc_info is not None
