"""Notices reach the affected organisations once, over real SMTP and real webhooks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from settings import Settings
from tests.api.conftest import Api
from tests.conftest import Hooks, Inbox

SECRET = "notice-secret"
OUTAGE = {
    "kind": "scheduled_outage",
    "title": "Planned maintenance",
    "body": "The service is down for a database upgrade.",
    "starts_at": "2026-12-05T06:00:00Z",
    "ends_at": "2026-12-05T10:00:00Z",
}


@pytest.fixture
def worker_settings(smtp_inbox: tuple[Inbox, int]) -> Settings:
    return Settings(smtp_port=smtp_inbox[1], webhook_secret=SECRET)


async def add_organisations(api: Api, hook_url: str) -> None:
    for organisation in (
        {
            "id": "initech",
            "name": "Initech",
            "plan": "us-software-002:standard",
            "contact_emails": ["bill@initech.example", "peter@initech.example"],
            "webhook_url": hook_url,
        },
        {
            "id": "hooli",
            "name": "Hooli",
            "plan": "worldscape:premier",
            "contact_emails": ["gavin@hooli.example"],
        },
    ):
        assert (await api.admin.post("/organisations", json=organisation)).status_code == 201


async def delivered(api: Api, notice_id: int) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while (notice := (await api.admin.get(f"/notices/{notice_id}")).json())[  # noqa: ASYNC110
            "status"
        ] == "sending":
            await asyncio.sleep(0.1)
    return notice


async def test_outage_reaches_affected_organisations_once(
    api: Api, smtp_inbox: tuple[Inbox, int], webhook_receiver: tuple[Hooks, str]
) -> None:
    inbox, _ = smtp_inbox
    hooks, hook_url = webhook_receiver
    await add_organisations(api, hook_url)
    body = {**OUTAGE, "organisations": ["acme"], "plans": ["us-software-002:standard"]}
    headers = {"Idempotency-Key": "outage-2026-12"}

    sent = await api.bob.post("/notices", json=body, headers=headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["organisations"] == ["acme", "initech"]
    notice = await delivered(api, sent.json()["id"])
    assert notice["status"] == "delivered"
    assert (notice["messages"], notice["delivered"], notice["failed"]) == (4, 4, 0)
    assert {(d["organisation"], d["status"]) for d in notice["deliveries"]} == {
        ("acme", "sent"),
        ("initech", "sent"),
    }

    for address in ("ann@acme.example", "bill@initech.example", "peter@initech.example"):
        (message,) = inbox.to(address)
        assert message["Subject"] == "[scheduled outage] Planned maintenance"
        assert "From 2026-12-05T06:00:00+00:00 to 2026-12-05T10:00:00+00:00" in str(
            message.get_payload(decode=True)
        )
    assert inbox.to("gavin@hooli.example") == []
    ((_, payload),) = hooks.calls
    assert json.loads(payload)["notice_id"] == notice["id"]
    assert json.loads(payload)["organisation"] == "initech"

    # A retried POST gets the first answer and sends nothing new.
    retry = await api.bob.post("/notices", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["id"] == notice["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (await api.admin.get("/notices")).json()["total"] == 1
    assert len(inbox.messages) == 3
    assert len(hooks.calls) == 1


async def test_customers_see_only_notices_for_their_organisation(
    api: Api, webhook_receiver: tuple[Hooks, str]
) -> None:
    await add_organisations(api, webhook_receiver[1])
    continuity = {
        "kind": "business_continuity",
        "title": "Office move",
        "body": "Phone support moves to the Dallas site this week.",
    }
    to_acme = await api.admin.post("/notices", json={**continuity, "organisations": ["acme"]})
    to_all = await api.admin.post("/notices", json={**continuity, "all_organisations": True})
    assert to_acme.status_code == to_all.status_code == 201
    assert to_all.json()["organisations"] == ["acme", "globex", "hooli", "initech"]
    await delivered(api, to_all.json()["id"])

    mine = (await api.ann.get("/notices")).json()
    assert [n["id"] for n in mine["items"]] == [to_all.json()["id"], to_acme.json()["id"]]
    theirs = (await api.gus.get("/notices")).json()
    assert [n["id"] for n in theirs["items"]] == [to_all.json()["id"]]
    assert (await api.gus.get(f"/notices/{to_acme.json()['id']}")).status_code == 404
    seen = (await api.gus.get(f"/notices/{to_all.json()['id']}")).json()
    assert seen["organisations"] == ["globex"]
    assert all(d["organisation"] == "globex" for d in seen["deliveries"])

    page = (await api.ada.get("/notices", params={"limit": 1, "offset": 1})).json()
    assert (page["total"], [n["id"] for n in page["items"]]) == (2, [to_acme.json()["id"]])
    assert (
        await api.ann.post("/notices", json={**continuity, "all_organisations": True})
    ).status_code == 403


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"organisations": ["acme"], "ends_at": None}, "body.ends_at"),
    ({"organisations": ["acme"], "ends_at": "2026-12-05T05:00:00Z"}, "body.ends_at"),
    ({"organisations": ["acme", "nobody"]}, "body.organisations.1"),
    ({"plans": ["worldscape:gold"]}, "body.plans.0"),
    ({"catalogs": ["nowhere"]}, "body.catalogs.0"),
    ({"plans": ["vidizmo:standard"]}, "body.plans"),
    ({}, "body.organisations"),
    ({"all_organisations": True, "organisations": ["acme"]}, "body.all_organisations"),
    ({"organisations": ["acme"], "kind": "party"}, "body.kind"),
    ({"organisations": ["acme"], "starts_at": "2026-12-05T06:00:00"}, "body.starts_at"),
]


async def test_bad_input_is_422_naming_the_field_and_sends_nothing(
    api: Api, smtp_inbox: tuple[Inbox, int]
) -> None:
    for change, field in BAD_INPUT:
        response = await api.admin.post("/notices", json={**OUTAGE, **change})
        assert response.status_code == 422, response.text
        assert field in [error["field"] for error in response.json()["errors"]], change
    assert (await api.admin.get("/notices")).json()["total"] == 0
    assert smtp_inbox[0].messages == []
