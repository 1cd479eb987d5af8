"""Articles through the API on SQLite and PostgreSQL: written, versioned, published,
archived, read by each role as its visibility says, and drafted from resolved cases."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.test_permissions import open_acme_case
from tests.knowledge.test_markdown import HOSTILE_MARKDOWN, assert_inert

ACME_PLAN = "short-sla:fast"  # Ann's organisation's plan; Gus's is us-software-002:enterprise


async def write(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"title": "Exports time out", "body": "Split the export.", **fields}
    created = await api.bob.post("/kb/articles", json=body)
    assert created.status_code == 201, created.text
    article: dict[str, Any] = created.json()
    return article


async def publish(api: Api, article_id: int, version: int | None = None) -> dict[str, Any]:
    body = {"version": version} if version else None
    published = await api.bob.post(f"/kb/articles/{article_id}/publish", json=body)
    assert published.status_code == 200, published.text
    article: dict[str, Any] = published.json()
    return article


async def published(api: Api, **fields: Any) -> dict[str, Any]:
    return await publish(api, (await write(api, **fields))["id"])


async def listed(client: httpx.AsyncClient, **params: Any) -> set[int]:
    page = await client.get("/kb/articles", params={"limit": 200, **params})
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


async def test_write_edit_publish_and_history(api: Api) -> None:
    draft = await write(api, title="Exports time out", visibility="customers", category="exports")
    assert (draft["status"], draft["version"], draft["published_version"]) == ("draft", 1, None)
    assert draft["slug"] == "exports-time-out"
    article = draft["id"]
    # A draft is staff's only.
    assert (await api.ann.get(f"/kb/articles/{article}")).status_code == 404
    assert article not in await listed(api.ann)

    edited = await api.bob.put(f"/kb/articles/{article}", json={"body": "Export in parts."})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["title"]) == (2, "Exports time out")
    v2 = await publish(api, article)
    assert (v2["status"], v2["published_version"], v2["shown_version"]) == ("published", 2, 2)
    assert v2["html"] == "<p>Export in parts.</p>\n"

    # A new draft: readers keep reading version 2, staff see it by number.
    await api.bob.put(f"/kb/articles/{article}", json={"body": "v3", "title": "Exports stall"})
    read = (await api.ann.get(f"/kb/articles/{article}")).json()
    assert (read["shown_version"], read["body"], read["title"]) == (
        2,
        "Export in parts.",
        v2["title"],
    )
    assert (await api.ann.get(f"/kb/articles/{article}?version=3")).status_code == 404
    by_slug = await api.ann.get("/kb/articles/exports-time-out")
    assert by_slug.json()["id"] == article
    staff = (await api.ada.get(f"/kb/articles/{article}?version=3")).json()
    assert (staff["shown_version"], staff["body"], staff["title"]) == (3, "v3", "Exports stall")

    versions = (await api.rex.get(f"/kb/articles/{article}/versions")).json()
    assert [(v["version"], v["current"]) for v in versions] == [(3, False), (2, True), (1, False)]
    assert versions[1]["published_at"] is not None and versions[0]["published_at"] is None
    assert {v["author"] for v in versions} == {"bob"}
    assert (await api.ann.get(f"/kb/articles/{article}/versions")).status_code == 403

    # Rolling back to version 1, then archiving: gone for readers, kept for staff.
    rolled_back = await publish(api, article, version=1)
    assert (rolled_back["published_version"], rolled_back["body"]) == (1, "Split the export.")
    assert (await api.ann.get(f"/kb/articles/{article}")).json()["shown_version"] == 1
    archived = await api.bob.post(f"/kb/articles/{article}/archive")
    assert archived.json()["status"] == "archived"
    assert (await api.ann.get(f"/kb/articles/{article}")).status_code == 404
    assert article not in await listed(api.ann)
    assert article in await listed(api.bob, status="archived")
    assert (await publish(api, article))["shown_version"] == 3
    assert (await api.ann.get(f"/kb/articles/{article}")).json()["title"] == "Exports stall"


async def test_who_may_write(api: Api) -> None:
    body = {"title": "Anything"}
    assert (await api.anonymous.post("/kb/articles", json=body)).status_code == 401
    for reader in (api.ann, api.ada, api.rex):
        assert (await reader.post("/kb/articles", json=body)).status_code == 403
    assert (await api.admin.post("/kb/articles", json=body)).status_code == 201
    article = (await write(api))["id"]
    for reader in (api.ann, api.ada):
        assert (await reader.put(f"/kb/articles/{article}", json=body)).status_code == 403
        assert (await reader.post(f"/kb/articles/{article}/publish")).status_code == 403
        assert (await reader.post(f"/kb/articles/{article}/archive")).status_code == 403


async def test_bad_articles_are_refused_naming_the_field(api: Api) -> None:
    no_plans = await api.bob.post("/kb/articles", json={"title": "x", "visibility": "plans"})
    assert no_plans.status_code == 422
    assert no_plans.json()["errors"][0]["field"] == "body.plans"
    unknown = await api.bob.post(
        "/kb/articles", json={"title": "x", "visibility": "plans", "plans": ["nope:none"]}
    )
    assert unknown.json()["errors"][0]["field"] == "body.plans.0"
    stray = await api.bob.post("/kb/articles", json={"title": "x", "plans": [ACME_PLAN]})
    assert stray.json()["errors"][0]["field"] == "body.plans"
    digits = await api.bob.post("/kb/articles", json={"title": "x", "slug": "123"})
    assert digits.json()["errors"][0]["field"] == "body.slug"

    first = await write(api, slug="exports")
    taken = await api.bob.post("/kb/articles", json={"title": "x", "slug": "exports"})
    assert taken.status_code == 409
    # Derived slugs find a free one.
    assert (await write(api, title="Exports"))["slug"] == "exports-2"

    await api.bob.put(f"/kb/articles/{first['id']}", json={"body": "v2"})
    stale = await api.bob.put(f"/kb/articles/{first['id']}", json={"body": "x", "base_version": 1})
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]
    missing = await api.bob.post(f"/kb/articles/{first['id']}/publish", json={"version": 9})
    assert missing.status_code == 404


async def test_each_role_sees_what_the_visibility_allows(api: Api) -> None:
    public = (await published(api, title="Public", visibility="public"))["id"]
    customers = (await published(api, title="Customers", visibility="customers"))["id"]
    staff = (await published(api, title="Staff", visibility="staff"))["id"]
    acme = (await published(api, title="Acme plan", visibility="plans", plans=[ACME_PLAN]))["id"]
    draft = (await write(api, title="Public draft", visibility="public"))["id"]
    everything = {public, customers, staff, acme, draft}
    readers = {
        "anonymous": (api.anonymous, {public}),
        "ann": (api.ann, {public, customers, acme}),
        "gus": (api.gus, {public, customers}),  # another plan's customer
        "bob": (api.bob, everything),
        "ada": (api.ada, everything),
        "rex": (api.rex, everything),
        "admin": (api.admin, everything),
    }
    for name, (client, sees) in readers.items():
        assert await listed(client) == sees, name
        for article in everything:
            read = await client.get(f"/kb/articles/{article}")
            assert read.status_code == (200 if article in sees else 404), (name, article)
        found = await client.get("/kb/search", params={"q": "split export"})
        assert {hit["id"] for hit in found.json()["items"]} == sees - {draft}, name
        categories = (await client.get("/kb/categories")).json()
        assert categories == [{"category": "general", "articles": len(sees)}], name
    # Customers are never told which plans an article is for.
    assert (await api.ann.get(f"/kb/articles/{acme}")).json()["plans"] == []
    assert (await api.bob.get(f"/kb/articles/{acme}")).json()["plans"] == [ACME_PLAN]
    # A header with a bad token is refused, not read as anonymous.
    bad = await api.anonymous.get(
        f"/kb/articles/{public}", headers={"Authorization": "Bearer tl_nope"}
    )
    assert bad.status_code == 401


async def test_article_html_is_neutralised(api: Api) -> None:
    article = await published(api, title="Hostile", visibility="public", body=HOSTILE_MARKDOWN)
    read = await api.anonymous.get(f"/kb/articles/{article['id']}")
    assert read.status_code == 200
    html = read.json()["html"]
    assert "<script" not in html and "<iframe" not in html
    assert_inert(html)  # no on* attribute, no javascript: URL
    assert "&lt;img src=x onerror=" in html  # shown as text
    assert read.json()["body"] == HOSTILE_MARKDOWN  # the Markdown is kept as written


async def test_a_resolved_case_becomes_a_draft(api: Api) -> None:
    number = await open_acme_case(api)
    early = await api.bob.post(f"/kb/articles/from-case/{number}")
    assert early.status_code == 409
    assert "only a resolved case" in early.json()["detail"]
    resolved = await api.bob.post(
        f"/cases/{number}/resolve",
        json={"summary": "Raise the export timeout to 300 s.", "root_cause_analysis": "race"},
    )
    assert resolved.json()["status"] == "resolved", resolved.text
    refused = await api.ann.post(f"/kb/articles/from-case/{number}")
    assert refused.status_code == 403

    drafted = await api.bob.post(f"/kb/articles/from-case/{number}", json={"category": "exports"})
    assert drafted.status_code == 201, drafted.text
    draft = drafted.json()
    assert draft["title"] == "Exports fail with a timeout"
    assert "Raise the export timeout to 300 s." in draft["body"]
    assert (draft["status"], draft["visibility"], draft["category"]) == (
        "draft",
        "staff",
        "exports",
    )
    assert (draft["source_case"], draft["created_by"]) == (number, "bob")
    assert (await api.ann.get(f"/kb/articles/{draft['id']}")).status_code == 404
    assert (await api.bob.post("/kb/articles/from-case/999999")).status_code == 404
