"""Users are created in one of the five roles; an agent works at least one tier."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.auth import issue_token
from db.read_model import User
from tests.api.conftest import Api
from tests.api.test_permissions import open_acme_case

ROLES = "customer, agent, release_manager, auditor, admin"
AGENT_TIERS = "an agent works at least one tier: give 1, 2 and/or 3"


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def user_ids(api: Api) -> set[str]:
    return {user["id"] for user in (await api.admin.get("/users")).json()}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"role": "agent"}, AGENT_TIERS),
        ({"role": "agent", "tiers": []}, AGENT_TIERS),
        ({"role": "agent", "tiers": [2, 2]}, "each tier once: 2 is given more than once"),
        ({"role": "auditor", "tiers": [1]}, "only agents work tiers; role auditor takes none"),
        ({"role": "admin", "tiers": [1, 2, 3]}, "only agents work tiers; role admin takes none"),
    ],
    ids=["agent-no-tiers", "agent-empty-tiers", "agent-repeated-tier", "auditor", "admin"],
)
async def test_tiers_are_refused_where_they_mean_nothing(
    api: Api, body: dict[str, Any], message: str
) -> None:
    refused = await api.admin.post("/users", json={"id": "pia", "name": "Pia", **body})
    assert field_errors(refused) == {"body.tiers": message}
    assert "pia" not in await user_ids(api)


async def test_a_tier_outside_one_to_three_is_refused(api: Api) -> None:
    refused = await api.admin.post(
        "/users", json={"id": "pia", "name": "Pia", "role": "agent", "tiers": [4]}
    )
    assert set(field_errors(refused)) == {"body.tiers.0"}


async def test_an_agent_is_created_with_the_tiers_given(api: Api) -> None:
    body = {"id": "pia", "name": "Pia", "role": "agent", "tiers": [1, 3]}
    created = await api.admin.post("/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["tiers"] == [1, 3]
    listed = (await api.admin.get("/users")).json()
    assert [user["tiers"] for user in listed if user["id"] == "pia"] == [[1, 3]]


@pytest.mark.parametrize("role", ["system", "boss"])
async def test_a_role_outside_the_five_is_refused(api: Api, role: str) -> None:
    refused = await api.admin.post("/users", json={"id": "sam", "name": "Sam", "role": role})
    errors = field_errors(refused)
    assert set(errors) == {"body.role"}
    assert f"a user's role is one of {ROLES}" in errors["body.role"]
    if role == "system":
        assert "Tierline's own" in errors["body.role"]
    assert "sam" not in await user_ids(api)


def test_the_schema_offers_the_five_roles_only() -> None:
    schema = create_app().openapi()["components"]["schemas"]["UserCreate"]
    assert schema["properties"]["role"]["enum"] == ROLES.split(", ")


async def test_a_user_stored_as_system_is_still_listed(api: Api, read_model: Engine) -> None:
    # Created before the API refused the role: listing users must not fail on it.
    with Session(read_model) as session:
        session.add(User(id="old-system", name="Old", role="system"))
        session.commit()
    listed = await api.admin.get("/users")
    assert listed.status_code == 200
    assert {"id": "old-system", "role": "system"}.items() <= next(
        user for user in listed.json() if user["id"] == "old-system"
    ).items()


async def test_an_agent_stored_with_no_tiers_works_none(api: Api, read_model: Engine) -> None:
    # An empty list once meant every tier; revision c4a7e2b91d3f wrote those out as
    # [1, 2, 3], so an empty list that remains means no tier at all.
    number = await open_acme_case(api)
    with Session(read_model) as session:
        session.add(User(id="nia", name="Nia", role="agent", tiers=[]))
        session.commit()
        _, token = issue_token(session, "nia")
    nia = httpx.AsyncClient(
        base_url=api.admin.base_url, headers={"Authorization": f"Bearer {token}"}
    )
    async with nia:
        assign = await nia.post(f"/cases/{number}/assign", json={"assignee": "nia"})
    assert assign.status_code == 403, assign.text
    assert "you work no tier" in assign.json()["detail"]
