"""Every role and organisation boundary: 401, 403 and 404 where they belong."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.builders import case_body


async def open_acme_case(api: Api) -> int:
    response = await api.ann.post("/cases", json=case_body())
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


async def test_no_or_bad_token_is_401(api: Api) -> None:
    assert (await api.anonymous.get("/cases")).status_code == 401
    bad = await api.anonymous.get("/cases", headers={"Authorization": "Bearer tl_nope"})
    assert bad.status_code == 401
    assert bad.json()["title"] == "Authentication required"


async def test_revoked_token_stops_working(api: Api) -> None:
    assert (await api.gus.get("/plans")).status_code == 200
    revoked = await api.admin.delete(f"/tokens/{api.token_ids['gus']}")
    assert revoked.status_code == 200
    assert (await api.gus.get("/plans")).status_code == 401


async def test_customers_see_only_their_organisation(api: Api) -> None:
    number = await open_acme_case(api)
    assert (await api.ann.get(f"/cases/{number}")).status_code == 200
    assert (await api.gus.get(f"/cases/{number}")).status_code == 404
    assert (await api.gus.get(f"/cases/{number}/timeline")).status_code == 404
    listed = (await api.gus.get("/cases")).json()
    assert listed["total"] == 0
    assert (await api.ann.get("/cases")).json()["total"] == 1
    # Gus cannot act on it either, nor open a case for Acme.
    reply = await api.gus.post(f"/cases/{number}/reply", json={"message": "hi"})
    assert reply.status_code == 404
    assert (await api.gus.post("/cases", json=case_body())).status_code == 403
    assert (await api.gus.get("/organisations/acme")).status_code == 404


async def test_roles_are_enforced(api: Api) -> None:
    number = await open_acme_case(api)
    # Customers cannot do agents' work, and agents cannot speak for customers.
    respond = await api.ann.post(f"/cases/{number}/respond", json={"message": "x"})
    assert respond.status_code == 403
    reply = await api.bob.post(f"/cases/{number}/reply", json={"message": "x"})
    assert reply.status_code == 403
    # Auditors read everything and change nothing.
    assert (await api.ada.get(f"/cases/{number}")).status_code == 200
    assert (await api.ada.get("/queues/2")).status_code == 200
    note = await api.ada.post(f"/cases/{number}/notes", json={"note": "x"})
    assert note.status_code == 403
    assert (await api.ada.post("/cases", json=case_body())).status_code == 403
    # Only admins manage organisations and users.
    assert (
        await api.bob.post("/users", json={"id": "x", "name": "x", "role": "agent"})
    ).status_code == 403
    assert (await api.ann.get("/users")).status_code == 403
    # An agent works only the tiers given: the case is in tier 2, Tia works tier 3.
    assign = await api.tia.post(f"/cases/{number}/assign", json={"assignee": "tia"})
    assert assign.status_code == 403
    assign = await api.bob.post(f"/cases/{number}/assign", json={"assignee": "bob"})
    assert assign.status_code == 200


async def test_customers_read_plans_with_severity_definitions(api: Api) -> None:
    plans = (await api.ann.get("/plans")).json()
    assert "eu-software-001:gold" in plans
    gold = (await api.ann.get("/plans/eu-software-001:gold")).json()
    definitions = {s["id"]: s["definition"] for s in gold["severities"]}
    assert "no workaround" in definitions["sev1"]
    assert (await api.ann.get("/plans/nope:none")).status_code == 404
