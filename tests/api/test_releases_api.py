"""Release managers carry tier-3 cases to a fix over the API; roles are enforced."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api
from tests.api.test_permissions import open_acme_case


async def tier3(api: Api) -> int:
    number = await open_acme_case(api)
    escalated = await api.bob.post(
        f"/cases/{number}/escalate", json={"tier": 3, "reason": "needs a code change"}
    )
    assert escalated.status_code == 200, escalated.text
    return number


async def test_plan_link_ship_over_http(api: Api) -> None:
    planned = await api.rex.post("/releases", json={"version": "4.2.2", "kind": "patch"})
    assert planned.status_code == 201, planned.text
    assert planned.json()["status"] == "planned"
    number = await tier3(api)
    linked = await api.rex.put(f"/releases/4.2.2/cases/{number}")
    assert [case["number"] for case in linked.json()["cases"]] == [number]
    # Linking again, from the case's side this time, changes nothing.
    assert (await api.rex.put(f"/cases/{number}/release/4.2.2")).status_code == 200

    notes = (await api.bob.get("/releases/4.2.2/notes")).json()
    assert notes["fixed_cases"] == [number]
    assert notes["organisations"] == ["acme"]

    shipped = await api.rex.post("/releases/4.2.2/ship")
    assert shipped.json()["status"] == "shipped"
    again = await api.rex.post("/releases/4.2.2/ship")
    assert again.status_code == 200

    async with asyncio.timeout(30):
        while (case := (await api.ann.get(f"/cases/{number}")).json())["status"] != "resolved":  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert case["release"] == "4.2.2"
    assert case["resolution_summary"] == "Fixed in patch 4.2.2"

    # A shipped release takes no more cases, and the refused case's timeline shows nothing.
    other = await tier3(api)
    before = (await api.bob.get(f"/cases/{other}/timeline")).json()
    refused = await api.rex.put(f"/releases/4.2.2/cases/{other}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == "release 4.2.2 is shipped"
    assert (await api.bob.get(f"/cases/{other}/timeline")).json() == before
    assert (await api.bob.get(f"/cases/{other}")).json()["release"] is None


async def test_only_tier3_cases_link_and_roles_are_enforced(api: Api) -> None:
    await api.rex.post("/releases", json={"version": "9.0", "kind": "major"})
    number = await open_acme_case(api)  # tier 2
    refused = await api.rex.put(f"/releases/9.0/cases/{number}")
    assert refused.status_code == 409
    assert "only tier-3 cases can be linked" in refused.json()["detail"]

    assert (
        await api.ann.post("/releases", json={"version": "x1", "kind": "hotfix"})
    ).status_code == 403
    assert (await api.bob.post("/releases/9.0/ship")).status_code == 403
    assert (await api.ann.get("/releases/9.0")).status_code == 403
    assert (await api.ada.get("/releases/9.0")).status_code == 200
    assert (await api.rex.get("/releases/nope")).status_code == 404
    bad = await api.rex.post("/releases", json={"version": "9.1", "kind": "nightly"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.kind"

    cancelled = await api.rex.post("/releases/9.0/cancel", json={"reason": "merged into 9.1"})
    assert cancelled.json()["status"] == "cancelled"
    assert (await api.rex.post("/releases/9.0/start")).status_code == 409


async def test_list_releases_by_status(api: Api) -> None:
    for version, kind in (("7.0", "major"), ("7.0.1", "hotfix"), ("7.1", "patch")):
        assert (await api.rex.post("/releases", json={"version": version, "kind": kind})).is_success
    assert (await api.rex.post("/releases/7.0.1/ship")).status_code == 200
    assert (
        await api.rex.post("/releases/7.1/cancel", json={"reason": "folded into 8.0"})
    ).is_success

    async with asyncio.timeout(30):
        while (await api.bob.get("/releases", params={"status": "planned"})).json()[  # noqa: ASYNC110
            "total"
        ] != 1:
            await asyncio.sleep(0.1)
    planned = (await api.bob.get("/releases", params={"status": "planned"})).json()
    assert [r["version"] for r in planned["items"]] == ["7.0"]
    closed = (
        await api.ada.get("/releases", params={"status": ["shipped", "cancelled"], "limit": 1})
    ).json()
    assert closed["total"] == 2
    assert len(closed["items"]) == 1
    everything = (await api.rex.get("/releases")).json()
    assert {r["version"]: r["status"] for r in everything["items"]} == {
        "7.0": "planned",
        "7.0.1": "shipped",
        "7.1": "cancelled",
    }
    assert (await api.ann.get("/releases")).status_code == 403
    assert (await api.rex.get("/releases", params={"status": "nightly"})).status_code == 422
