"""The knowledge base in real Chromium: an agent writes, versions, publishes and finds an
article; hostile Markdown is neutralised on the page and in search snippets; readers read
and are refused anything else; customers are refused; a resolved case becomes a draft."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.web.conftest import Console, form_token, shot
from tests.web.test_console_audit import csp_refusals
from web.console import kb

HOSTILE = """Tap <script>window.pwned = 1; alert('kb')</script> to start.

[click me](javascript:alert(1)) and [also](JaVaScRiPt:alert(2)) and <javascript:alert(3)>

<a href="javascript:alert(4)">raw</a> <img src=x onerror="alert(5)">

[help](https://example.com/help "Help")
"""


async def publish(console: Console, **article: Any) -> int:
    """An article written and published over the API, as bob."""
    made = await console.api.bob.post("/kb/articles", json={"body": "", **article})
    assert made.status_code == 201, made.text
    article_id: int = made.json()["id"]
    published = await console.api.bob.post(f"/kb/articles/{article_id}/publish", json={})
    assert published.status_code == 200, published.text
    return article_id


def watch_dialogs(page: Page) -> list[str]:
    seen: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        seen.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


async def test_an_agent_writes_saves_two_versions_publishes_and_finds_it(
    console: Console,
) -> None:
    bob = await console.sign_in("bob")
    refused = csp_refusals(bob)
    nav = bob.get_by_role("navigation", name="Console")
    await nav.get_by_role("link", name="Knowledge base").click()
    await expect(bob).to_have_url(f"{console.base_url}/console/kb")
    await bob.get_by_role("link", name="New article").click()
    await bob.get_by_label("Title").fill("Exports time out on large reports")
    await bob.get_by_label("Text (Markdown").fill("## Symptom\n\nThe export stops after 30 s.")
    await bob.get_by_label("Category").fill("exports")
    await bob.get_by_label("Customers", exact=True).check()
    await bob.get_by_role("button", name="Save the draft").click()
    await expect(bob).to_have_url(re.compile(r"/console/kb/\d+$"))
    article_id = int(bob.url.rsplit("/", 1)[1])
    await expect(bob.locator("#article-status")).to_have_text("draft")
    await expect(bob.locator("#article-body h2")).to_have_text("Symptom")
    await expect(bob.locator("#versions tbody tr")).to_have_count(1)
    await expect(bob.locator("#published-version")).to_have_text("never")

    await bob.get_by_role("link", name="Edit (a new version)").click()
    await expect(bob.get_by_label("Title")).to_have_value("Exports time out on large reports")
    await expect(bob.get_by_label("Customers", exact=True)).to_be_checked()
    await bob.get_by_label("Text (Markdown").fill(
        "## Symptom\n\nThe export stops after 30 s.\n\n## Fix\n\n"
        "Raise the **export timeout** under Settings, Reports."
    )
    await bob.get_by_role("button", name="Save as a new version").click()
    await expect(bob).to_have_url(re.compile(rf"/console/kb/{article_id}\?version=2$"))
    await expect(bob.locator("#versions tbody tr")).to_have_count(2)
    await expect(bob.locator("#article-body strong")).to_have_text("export timeout")

    # Publish: the version select offers the newest first.
    await expect(bob.get_by_label("Version", exact=True)).to_have_value("2")
    await bob.get_by_role("button", name="Publish", exact=True).click()
    await expect(bob).to_have_url(f"{console.base_url}/console/kb/{article_id}")
    await expect(bob.locator("#article-status")).to_have_text("published")
    await expect(bob.locator("#published-version")).to_have_text("version 2")
    await expect(bob.locator("#versions tr.current")).to_have_attribute("data-version", "2")
    await shot(bob, "kb-article")

    # Found by search, the words matched by stem and highlighted.
    await nav.get_by_role("link", name="Knowledge base").click()
    await bob.wait_for_url(f"{console.base_url}/console/kb")
    await bob.wait_for_load_state()
    await bob.keyboard.press("/")
    await expect(bob.locator("#q")).to_be_focused()
    await bob.keyboard.type("exporting timeouts")
    await bob.keyboard.press("Enter")
    hit = bob.locator(f".hits li[data-article='{article_id}']")
    await expect(hit.locator(".hit-title")).to_contain_text("Exports time out")
    await expect(hit.locator(".hit-title mark").first).to_have_text("Exports")
    await expect(hit.locator(".snippet mark").first).to_have_text(
        re.compile("export", re.IGNORECASE)
    )
    await expect(bob.locator("table.articles tr[data-article]")).to_have_count(1)
    await shot(bob, "kb-search")
    await hit.locator(".hit-title").click()
    await expect(bob).to_have_url(f"{console.base_url}/console/kb/{article_id}")

    # Someone saves a version while this screen edits: 409 beside the form, typing kept;
    # saving again (after reading theirs) writes the next version.
    await bob.get_by_role("link", name="Edit (a new version)").click()
    meanwhile = await console.api.bob.put(
        f"/kb/articles/{article_id}", json={"body": "Theirs.", "base_version": 2}
    )
    assert meanwhile.status_code == 200, meanwhile.text
    await bob.get_by_label("Text (Markdown").fill("Mine, typed over version 2.")
    async with bob.expect_response(f"**/console/kb/{article_id}/edit") as answer:
        await bob.get_by_role("button", name="Save as a new version").click()
    assert (await answer.value).status == 409
    await expect(bob.locator("#error-save")).to_contain_text("is at version 3, not 2")
    await expect(bob.get_by_label("Text (Markdown")).to_have_value("Mine, typed over version 2.")
    await shot(bob, "kb-conflict")
    await bob.get_by_role("button", name="Save as a new version").click()
    await expect(bob).to_have_url(re.compile(rf"/console/kb/{article_id}\?version=4$"))
    await expect(bob.locator("#article-body")).to_have_text("Mine, typed over version 2.")
    # Readers still read version 2.
    assert (await console.api.ann.get(f"/kb/articles/{article_id}")).json()["shown_version"] == 2

    # A refused save keeps what was typed and says why.
    await bob.get_by_role("link", name="Edit (a new version)").click()
    await bob.get_by_label("Customers on certain plans").check()
    async with bob.expect_response(f"**/console/kb/{article_id}/edit") as answer:
        await bob.get_by_role("button", name="Save as a new version").click()
    assert (await answer.value).status == 422
    await expect(bob.locator("#error-save")).to_contain_text("needs at least one")
    await expect(bob.get_by_label("Customers on certain plans")).to_be_checked()
    assert refused == []


async def test_hostile_markdown_is_neutralised_on_the_page_and_in_search(
    console: Console,
) -> None:
    article_id = await publish(
        console,
        title="<script>alert('title')</script> Hostile guide",
        body=HOSTILE,
        visibility="public",
    )
    bob = await console.sign_in("bob")
    dialogs = watch_dialogs(bob)
    refused = csp_refusals(bob)
    await bob.goto(f"/console/kb/{article_id}")
    await expect(bob.get_by_role("heading", level=1)).to_contain_text(
        "<script>alert('title')</script> Hostile guide"
    )
    body = bob.locator("#article-body")
    await expect(body).to_contain_text("<script>window.pwned = 1; alert('kb')</script>")
    await expect(bob.locator("#article-body script, #article-body img")).to_have_count(0)
    await expect(bob.locator("script:not([src])")).to_have_count(0)
    hrefs = await body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/help"], hrefs
    await expect(body.locator("a")).to_have_attribute("rel", "noopener noreferrer")
    assert await bob.evaluate("window.pwned === undefined")

    # The search snippet quotes the text, <script> and all, as text around the <mark>.
    await bob.goto("/console/kb?q=hostile+tap")
    hit = bob.locator(f".hits li[data-article='{article_id}']")
    await expect(hit.locator(".hit-title mark")).to_have_text("Hostile")
    await expect(hit.locator(".hit-title")).to_contain_text("<script>alert('title')</script>")
    await expect(hit.locator(".snippet mark").first).to_have_text("Tap")
    await expect(hit.locator(".snippet")).to_contain_text("<script>window.pwned = 1;")
    await expect(bob.locator(".hits script")).to_have_count(0)
    await expect(bob.locator("script:not([src])")).to_have_count(0)
    assert await bob.evaluate("window.pwned === undefined")
    await shot(bob, "kb-hostile")
    assert dialogs == []
    assert refused == []


async def test_readers_read_without_forms_and_customers_are_refused(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    article_id = await publish(
        console, title="Resetting a password", body="Use **Forgot your password?**"
    )
    drafted = await console.api.bob.post(
        "/kb/articles", json={"title": "Invoices in euros", "category": "billing"}
    )
    assert drafted.status_code == 201, drafted.text
    for user in ("ada", "rex"):
        reader = await console.sign_in(user)
        nav = reader.get_by_role("navigation", name="Console")
        await nav.get_by_role("link", name="Knowledge base").click()
        await expect(reader.locator(f"tr[data-article='{article_id}']")).to_contain_text(
            "Resetting a password"
        )
        await expect(reader.get_by_role("link", name="New article")).to_have_count(0)
        await expect(reader.locator("#main form[method=post]")).to_have_count(0)
        await reader.locator(f"tr[data-article='{article_id}'] a").click()
        await expect(reader.locator("#article-body strong")).to_have_text("Forgot your password?")
        await expect(reader.locator("#versions tbody tr")).to_have_count(1)
        await expect(reader.locator("#main form")).to_have_count(0)
        await expect(reader.get_by_role("link", name="Edit (a new version)")).to_have_count(0)
        await expect(reader.locator("#main")).to_contain_text("you may read them")
        for path in ("/console/kb/new", f"/console/kb/{article_id}/edit"):
            answer = await reader.goto(path)
            assert answer is not None and answer.status == 403

    # A page at a time, by category and status.
    monkeypatch.setattr(kb, "PAGE_SIZE", 1)
    ada = await console.sign_in("ada")
    await ada.goto("/console/kb")
    rows = ada.locator("table.articles tr[data-article]")
    await expect(rows).to_have_text([re.compile("Invoices in euros.*draft", re.S)])
    await expect(ada.locator(".pager")).to_contain_text("Showing 1\u20131 of 2")
    await ada.get_by_role("link", name="Next").click()
    await expect(rows).to_have_text([re.compile("Resetting a password.*published", re.S)])
    await ada.get_by_label("Status").select_option("draft")
    await ada.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("Invoices in euros")
    await ada.get_by_label("Status").select_option("")
    await ada.get_by_label("Category").select_option("general")
    await ada.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_text([re.compile("Resetting a password")])
    await expect(ada.locator(".pager")).to_have_count(0)

    # A form posted anyway: refused with the API's words, nothing changed.
    await ada.goto(f"/console/kb/{article_id}")
    await shot(ada, "kb-auditor")
    token = form_token(await ada.content())
    for action in ("archive", "publish", "edit"):
        refused = await ada.request.post(
            f"/console/kb/{article_id}/{action}", form={"csrf_token": token, "body": "x"}
        )
        assert refused.status == 403
        assert "an auditor may not do this" in await refused.text()
    refused = await ada.request.post("/console/kb/new", form={"csrf_token": token, "title": "x"})
    assert refused.status == 403
    forged = await ada.request.post(f"/console/kb/{article_id}/archive", form={"csrf_token": "x"})
    assert forged.status == 403
    assert "did not come from this site" in await forged.text()
    read = (await console.api.bob.get(f"/kb/articles/{article_id}")).json()
    assert (read["status"], read["version"]) == ("published", 1)

    # Customers use the portal: every knowledge-base page of the console refuses them.
    ann = await console.sign_in("ann")
    for path in ("/console/kb", f"/console/kb/{article_id}", "/console/kb/new"):
        answer = await ann.goto(path)
        assert answer is not None and answer.status == 403
        await expect(ann.locator(".error")).to_contain_text("a customer may not open this page")
    refused = await ann.request.post(
        f"/console/kb/{article_id}/archive", form={"csrf_token": "whatever"}
    )
    assert refused.status == 403


async def test_a_resolution_becomes_a_draft_and_a_response_links_its_article(
    console: Console,
) -> None:
    linked = await publish(
        console, title="Export limits", body="Exports stop at 1 GB.", visibility="customers"
    )
    number = await console.open_case("Exports time out at midnight")
    responded = await console.api.bob.post(
        f"/cases/{number}/respond", json={"message": "See the article.", "article": linked}
    )
    assert responded.status_code == 200, responded.text
    bob = await console.sign_in("bob")
    await bob.goto(f"/console/cases/{number}")
    await expect(bob.locator("#action-draft-article")).to_have_count(0)  # not resolved yet
    await bob.locator(f"#timeline .responded a[href='/console/kb/{linked}']").click()
    await expect(bob.get_by_role("heading", level=1)).to_contain_text("Export limits")

    resolved = await console.api.bob.post(
        f"/cases/{number}/resolve", json={"summary": "Raised the export timeout to 120 s."}
    )
    assert resolved.status_code == 200, resolved.text
    ada = await console.sign_in("ada")
    await ada.goto(f"/console/cases/{number}")
    await expect(ada.locator("#case-status")).to_have_text("resolved")
    await expect(ada.locator("#action-draft-article")).to_have_count(0)  # not a writer

    await bob.goto(f"/console/cases/{number}")
    await bob.get_by_role("button", name="Draft an article from this resolution").click()
    await expect(bob).to_have_url(re.compile(r"/console/kb/\d+/edit$"))
    draft_id = int(bob.url.rsplit("/", 2)[1])
    await expect(bob.get_by_label("Title")).to_have_value("Exports time out at midnight")
    await expect(bob.get_by_label("Text (Markdown")).to_have_value(
        "## Resolution\n\nRaised the export timeout to 120 s.\n"
    )
    await expect(bob.get_by_label("Category")).to_have_value("resolutions")
    await expect(bob.get_by_label("Staff only")).to_be_checked()
    await shot(bob, "kb-draft-from-case")
    await bob.get_by_label("Title").fill("Exports time out at midnight: raise the timeout")
    await bob.get_by_role("button", name="Save as a new version").click()
    await expect(bob).to_have_url(f"{console.base_url}/console/kb/{draft_id}?version=2")
    await expect(bob.locator("#article-status")).to_have_text("draft")
    await bob.get_by_role("link", name=f"#{number}").click()
    await expect(bob.get_by_role("heading", level=1)).to_contain_text(f"#{number}")
