"""METRICS_TOKEN: /metrics answers only the scraper that bears it, over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from api import errors
from observability import metrics
from tests.conftest import serve


async def test_only_the_bearer_of_the_token_reads_the_metrics(sqlite_engine: Engine) -> None:
    app = FastAPI()
    errors.install(app)
    metrics.install(app, token="scrape-secret")
    app.state.engine = sqlite_engine
    server, task, base_url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            anonymous = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
            right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "METRICS_TOKEN" in refused.json()["detail"]
        assert "tierline_" not in refused.text
    assert right.status_code == 200
    assert "tierline_open_cases" in right.text
