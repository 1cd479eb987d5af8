"""The walking skeleton over real HTTP: open, read, idempotent retries, bad input, health."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from api.app import create_app
from models.read_model import CaseNumber
from policies.catalog import CATALOG_DIR
from settings import Settings
from tests.builders import CATALOG_DIR as TEST_CATALOGS
from tests.builders import case_body
from tests.conftest import serve
from worker import build_worker
from workflows.case import CaseWorkflow


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalogs plus the test catalog with short SLAs."""
    directory = tmp_path_factory.mktemp("catalogs")
    for source in [*CATALOG_DIR.glob("*.yaml"), TEST_CATALOGS / "short-sla.yaml"]:
        shutil.copy(source, directory / source.name)
    return directory


@pytest.fixture
async def api(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    catalog_dir: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        catalog_dir=catalog_dir,
        temporal_address=dev_client.service_client.config.target_host,
        temporal_namespace=dev_client.namespace,
        temporal_task_queue=task_queue,
        database_url=str(read_model.url.render_as_string(hide_password=False)),
    )
    async with build_worker(dev_client, read_model, task_queue, activity_executor):
        server, task, base_url = await serve(create_app(settings))
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            created = await client.post("/organisations", json=ACME)
            assert created.status_code == 201, created.text
            yield client
        server.should_exit = True
        await task


ACME = {
    "id": "acme",
    "name": "Acme Corp",
    "plan": "short-sla:fast",
    "contact_emails": ["ann@acme.example"],
}


def count_numbers(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(CaseNumber)).one()


async def test_health_is_green(api: httpx.AsyncClient) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "temporal": "ok", "database": "ok"}


async def test_open_then_read_case(api: httpx.AsyncClient) -> None:
    opened = await api.post("/cases", json=case_body(title="Dashboard is blank"))
    assert opened.status_code == 201
    case = opened.json()
    assert case["status"] == "tier2"  # sev "critical" starts in tier 2 on this plan
    assert case["policy"]["catalog_id"] == "short-sla"
    assert {c["name"] for c in case["clocks"]} >= {"first_response", "resolution"}

    fetched = await api.get(f"/cases/{case['number']}")
    assert fetched.status_code == 200
    assert fetched.json()["details"]["title"] == "Dashboard is blank"
    assert fetched.json()["case_id"] == f"case-{case['number']}"


async def test_retried_open_with_same_key_returns_same_case_and_starts_nothing(
    api: httpx.AsyncClient, dev_client: Client, read_model: Engine
) -> None:
    headers = {"Idempotency-Key": "open-7f3a"}
    responses = await asyncio.gather(
        *(api.post("/cases", json=case_body(), headers=headers) for _ in range(5))
    )
    numbers = {response.json()["number"] for response in responses}
    assert [r.status_code for r in responses] == [201] * 5
    assert len(numbers) == 1
    assert count_numbers(read_model) == 1

    (number,) = numbers
    handle = dev_client.get_workflow_handle_for(CaseWorkflow.run, f"case-{number}")
    first_run = (await handle.describe()).run_id
    again = await api.post("/cases", json=case_body(), headers=headers)
    assert again.json()["number"] == number
    assert (await handle.describe()).run_id == first_run

    other = await api.post("/cases", json=case_body(), headers={"Idempotency-Key": "open-other"})
    assert other.json()["number"] != number


async def test_bad_input_names_fields_and_changes_nothing(
    api: httpx.AsyncClient, read_model: Engine
) -> None:
    body = case_body()
    body["contact"]["email"] = "not-an-email"
    del body["title"]
    response = await api.post("/cases", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.contact.email", "body.title"}
    assert count_numbers(read_model) == 0


async def test_unknown_case_is_404_problem(api: httpx.AsyncClient) -> None:
    response = await api.get("/cases/999999")
    assert response.status_code == 404
    assert response.json()["detail"] == "case 999999 does not exist"


async def test_unknown_organisation_and_severity_are_named(
    api: httpx.AsyncClient, read_model: Engine
) -> None:
    response = await api.post("/cases", json=case_body(organisation="nobody"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.organisation"
    response = await api.post("/cases", json=case_body(severity="sev9"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.severity"
    assert "critical" in response.json()["detail"]
    assert count_numbers(read_model) == 0


async def test_concurrent_opens_never_exceed_the_monthly_quota(api: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(api.post("/cases", json=case_body()) for _ in range(20)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 4  # short-sla:fast allows 4 incidents a month
    assert statuses.count(409) == 16
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["title"] == "Incident quota exhausted"
    assert "used all 4 incidents" in refused["detail"]
    opened = {r.json()["number"] for r in responses if r.status_code == 201}
    for number in opened:
        assert (await api.get(f"/cases/{number}")).status_code == 200
