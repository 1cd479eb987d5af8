"""The evidence route over HTTP: the head digest stands for the case's record, so the same
case exported twice gives the same head, and a case that gained an event another one."""

from __future__ import annotations

import asyncio
import json

import httpx

from audit.evidence import verify_bundle
from tests.api.conftest import Api
from tests.api.test_audit_api import act
from tests.api.test_permissions import open_acme_case


def runs_listed(response: httpx.Response) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(response.content)["header"]["runs"]
    return listed


async def settled_exports(api: Api, number: int) -> tuple[httpx.Response, httpx.Response]:
    """Two exports in a row with the same runs and events: the activities an action starts
    (projection, notifications) append to the history for a moment after it answers."""
    async with asyncio.timeout(30):
        earlier = await api.ada.get(f"/audit/cases/{number}/evidence")
        while True:
            await asyncio.sleep(0.3)
            later = await api.ada.get(f"/audit/cases/{number}/evidence")
            assert later.status_code == 200, later.text
            if runs_listed(later) == runs_listed(earlier):
                return earlier, later
            earlier = later


async def test_the_same_case_exported_twice_has_the_same_head(api: Api) -> None:
    number = await open_acme_case(api)
    await act(api, "bob", number, "respond", {"message": "Looking into it."})

    first, second = await settled_exports(api, number)

    head = first.headers["x-evidence-head"]
    assert second.headers["x-evidence-head"] == head
    for response in (first, second):
        report = verify_bundle(response.content, expected_head=head)
        assert report.intact, report.summary()
    # Only when it was exported differs between the two files, and the head does not cover it.
    one, two = json.loads(first.content), json.loads(second.content)
    assert one["export"]["exported_at"] != two["export"]["exported_at"]
    assert one["export"]["exported_by"] == two["export"]["exported_by"] == "ada"
    for document in (one, two):
        del document["export"], document["manifest"]["parts"]["export"]
        del document["manifest"]["digest"]
    assert one == two

    # One more event in the case's record: another head, which the first one does not pass.
    await act(api, "bob", number, "notes", {"note": "Queue is stuck."})
    _, grown = await settled_exports(api, number)
    assert grown.headers["x-evidence-head"] != head
    assert verify_bundle(grown.content).intact
    assert verify_bundle(grown.content, expected_head=head).edited == ["manifest head"]
