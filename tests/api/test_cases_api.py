"""Opening and reading cases over real HTTP: idempotency, bad input, quota, health."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from db.read_model import CaseNumber
from tests.api.conftest import Api
from tests.builders import case_body


def count_numbers(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(CaseNumber)).one()


async def test_ready_is_green(api: Api) -> None:
    response = await api.anonymous.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "temporal": "ok",
        "database": "ok",
        "migrations": "ok",
        "worker": "ok",
    }


async def test_open_then_read_case(api: Api) -> None:
    opened = await api.ann.post("/cases", json=case_body(title="Dashboard is blank"))
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["status"] == "tier2"  # "critical" starts in tier 2 on this plan
    assert case["policy"]["catalog_id"] == "short-sla"
    assert case["opened_by"] == {"id": "ann", "role": "customer"}
    assert {c["name"] for c in case["clocks"]} >= {"first_response", "resolution"}

    fetched = await api.bob.get(f"/cases/{case['number']}")
    assert fetched.status_code == 200
    assert fetched.json()["details"]["title"] == "Dashboard is blank"
    assert fetched.json()["case_id"] == f"case-{case['number']}"

    opened_event = (await api.bob.get(f"/cases/{case['number']}/timeline")).json()[0]
    assert opened_event["kind"] == "opened"
    assert set(opened_event["data"]) == {"severity", "policy"}  # once, not data.data
    assert opened_event["data"]["policy"]["catalog_id"] == "short-sla"


async def test_retried_open_with_same_key_returns_same_case_and_starts_nothing(
    api: Api, dev_client: Client, read_model: Engine
) -> None:
    headers = {"Idempotency-Key": "open-7f3a"}
    responses = await asyncio.gather(
        *(api.ann.post("/cases", json=case_body(), headers=headers) for _ in range(5))
    )
    numbers = {response.json()["number"] for response in responses}
    assert [r.status_code for r in responses] == [201] * 5
    assert len(numbers) == 1
    assert count_numbers(read_model) == 1

    (number,) = numbers
    handle = dev_client.get_workflow_handle(f"case-{number}")
    first_run = (await handle.describe()).run_id
    again = await api.ann.post("/cases", json=case_body(), headers=headers)
    assert again.json()["number"] == number
    assert (await handle.describe()).run_id == first_run

    other = await api.ann.post("/cases", json=case_body(), headers={"Idempotency-Key": "k2"})
    assert other.json()["number"] != number


async def test_bad_input_names_fields_and_changes_nothing(api: Api, read_model: Engine) -> None:
    body = case_body()
    body["contact"]["email"] = "not-an-email"
    del body["title"]
    response = await api.ann.post("/cases", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.contact.email", "body.title"}
    assert count_numbers(read_model) == 0


async def test_unknown_case_is_404_problem(api: Api) -> None:
    response = await api.bob.get("/cases/999999")
    assert response.status_code == 404
    assert response.json()["detail"] == "case 999999 does not exist"


async def test_unknown_organisation_and_severity_are_named(api: Api, read_model: Engine) -> None:
    response = await api.bob.post("/cases", json=case_body(organisation="nobody"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.organisation"
    response = await api.ann.post("/cases", json=case_body(severity="sev9"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.severity"
    assert "critical" in response.json()["detail"]
    assert count_numbers(read_model) == 0


async def test_concurrent_opens_never_exceed_the_monthly_quota(api: Api) -> None:
    responses = await asyncio.gather(*(api.ann.post("/cases", json=case_body()) for _ in range(20)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 4  # short-sla:fast allows 4 incidents a month
    assert statuses.count(409) == 16
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["title"] == "Incident quota exhausted"
    assert "used all 4 incidents" in refused["detail"]
    opened = {r.json()["number"] for r in responses if r.status_code == 201}
    for number in opened:
        assert (await api.ann.get(f"/cases/{number}")).status_code == 200
