"""Agents and customers advance a case through the API; refusals are 409 with the reason."""

from __future__ import annotations

from temporalio.client import Client

from tests.api.conftest import Api
from tests.api.test_permissions import open_acme_case
from tests.builders import case_body


async def test_a_case_from_opening_to_closing(api: Api) -> None:
    number = await open_acme_case(api)
    base = f"/cases/{number}"
    assert (await api.bob.post(f"{base}/assign", json={"assignee": "bob"})).status_code == 200
    asked = await api.bob.post(f"{base}/request-information", json={"message": "Which build?"})
    assert asked.json()["status"] == "waiting_on_customer"
    replied = await api.ann.post(f"{base}/reply", json={"message": "4.2.1"})
    assert replied.json()["status"] == "tier2"
    escalated = await api.bob.post(f"{base}/escalate", json={"tier": 3, "reason": "needs a fix"})
    assert escalated.json()["tier"] == 3
    resolved = await api.tia.post(
        f"{base}/resolve", json={"summary": "fixed in 4.2.2", "root_cause_analysis": "race"}
    )
    assert resolved.json()["status"] == "resolved"
    confirmed = await api.ann.post(f"{base}/confirm", json={})
    assert confirmed.json()["status"] == "closed"

    timeline = (await api.ada.get(f"{base}/timeline")).json()
    kinds = [entry["kind"] for entry in timeline]
    for kind in (
        "opened",
        "assigned",
        "information_requested",
        "customer_replied",
        "tier_escalated",
        "resolved",
        "confirmed",
    ):
        assert kind in kinds
    assert [e["seq"] for e in timeline] == sorted(e["seq"] for e in timeline)
    # The customer's timeline hides internal events.
    public = (await api.ann.get(f"{base}/timeline")).json()
    assert "assigned" not in [entry["kind"] for entry in public]


async def test_refused_action_is_409_with_the_reason_and_changes_nothing(api: Api) -> None:
    number = await open_acme_case(api)
    before = (await api.bob.get(f"/cases/{number}")).json()
    refused = await api.ann.post(f"/cases/{number}/confirm", json={})
    assert refused.status_code == 409
    assert "only a resolved case can be confirmed" in refused.json()["detail"]
    no_rca = await api.bob.post(f"/cases/{number}/resolve", json={"summary": "done"})
    assert no_rca.status_code == 409
    assert "root-cause analysis" in no_rca.json()["detail"]
    after = (await api.bob.get(f"/cases/{number}")).json()
    assert after["seq"] == before["seq"]


async def test_bad_action_body_is_422_naming_the_field(api: Api) -> None:
    number = await open_acme_case(api)
    response = await api.bob.post(f"/cases/{number}/escalate", json={"tier": 5})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.tier", "body.reason"}


async def test_action_with_idempotency_key_applies_once(api: Api) -> None:
    number = await open_acme_case(api)
    headers = {"Idempotency-Key": "note-1"}
    first = await api.bob.post(
        f"/cases/{number}/notes", json={"note": "call back"}, headers=headers
    )
    again = await api.bob.post(
        f"/cases/{number}/notes", json={"note": "call back"}, headers=headers
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["seq"] == again.json()["seq"]
    timeline = (await api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e["kind"] for e in timeline].count("note_added") == 1


async def test_list_filters_and_queue_order(api: Api) -> None:
    first = await open_acme_case(api)
    second = await open_acme_case(api)
    await api.bob.post(f"/cases/{first}/assign", json={"assignee": "bob"})
    page = (await api.bob.get("/cases", params={"assignee": "bob"})).json()
    assert [item["number"] for item in page["items"]] == [first]
    page = (await api.bob.get("/cases", params={"q": "export refund"})).json()
    assert page["total"] == 0
    page = (await api.bob.get("/cases", params={"q": "Exports", "status": "tier2"})).json()
    assert {item["number"] for item in page["items"]} == {first, second}
    queue = (await api.bob.get("/queues/2")).json()
    dues = [item["next_due_at"] for item in queue]
    assert dues == sorted(dues)
    assert (await api.bob.get("/cases", params={"limit": 0})).status_code == 422


async def test_an_action_on_a_case_closed_for_good_is_409(api: Api, dev_client: Client) -> None:
    body = case_body(organisation="globex", severity="high")
    number = (await api.bob.post("/cases", json=body)).json()["number"]
    out = await api.bob.post(
        f"/cases/{number}/close-out-of-scope",
        json={"exclusion": "third-party", "reason": "their proxy"},
    )
    assert out.status_code == 200
    # The workflow has completed: the case is still readable, and acting on it is 409.
    await dev_client.get_workflow_handle(f"case-{number}").result()
    note = await api.bob.post(f"/cases/{number}/notes", json={"note": "x"})
    assert note.status_code == 409
    assert note.json()["detail"] == f"case {number} is closed for good"
    assert (await api.bob.get(f"/cases/{number}")).status_code == 200


async def test_text_search_finds_words_anywhere_in_title_or_details(api: Api) -> None:
    async def opened(title: str, details: str) -> int:
        response = await api.ann.post("/cases", json=case_body(title=title, details=details))
        assert response.status_code == 201, response.text
        number: int = response.json()["number"]
        return number

    exports = await opened("Exports time out", "The nightly CSV job stalls after 10 minutes.")
    login = await opened("Login loops", "SSO via Kerberos sends users back to the start.")

    async def found(q: str) -> set[int]:
        page = await api.bob.get("/cases", params={"q": q})
        assert page.status_code == 200, page.text
        return {item["number"] for item in page.json()["items"]}

    assert await found("xport") == {exports}  # inside a word
    assert await found("KERBEROS") == {login}  # any case, in the details
    assert await found("csv exports") == {exports}  # every word, title or details
    assert await found("csv kerberos") == set()
    assert await found("ut") == {exports}  # too short for the index: matched by LIKE
    assert await found('time"out') == set()  # quotes are text, not query syntax


async def test_a_response_links_a_published_article_its_customer_may_read(api: Api) -> None:
    number = await open_acme_case(api)

    async def article(visibility: str, publish: bool, **extra: object) -> int:
        made = await api.bob.post(
            "/kb/articles",
            json={"title": f"Fix for {visibility}", "body": "Do this.", "visibility": visibility}
            | extra,
        )
        assert made.status_code == 201, made.text
        if publish:
            published = await api.bob.post(f"/kb/articles/{made.json()['id']}/publish", json={})
            assert published.status_code == 200, published.text
        article_id: int = made.json()["id"]
        return article_id

    readable = await article("customers", publish=True)
    for unreadable in (
        await article("customers", publish=False),  # a draft
        await article("staff", publish=True),
        await article("plans", publish=True, plans=["us-software-002:enterprise"]),  # not acme's
        999_999,
    ):
        refused = await api.bob.post(
            f"/cases/{number}/respond", json={"message": "See this", "article": unreadable}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "body.article"
    answered = await api.bob.post(
        f"/cases/{number}/respond", json={"message": "See this", "article": readable}
    )
    assert answered.status_code == 200, answered.text
    timeline = (await api.ann.get(f"/cases/{number}/timeline")).json()
    assert [e["data"] for e in timeline if e["kind"] == "responded"] == [{"article": readable}]
