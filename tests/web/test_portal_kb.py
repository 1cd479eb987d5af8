"""The portal's knowledge base in real Chromium: a customer finds what api.knowledge lets
their plan read (search with the matches marked, categories, articles) and nothing else by
URL; while a new case's title is typed, matching articles are suggested, and "this solved
it" records a deflected case (none is opened) that the attainment report counts; hostile
article text stays text; a response's article is linked from the case's timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from playwright.async_api import expect

from tests.web.conftest import PASSWORD, Console, shot
from tests.web.test_portal import csp_refusals

ACME_PLAN = "short-sla:fast"  # Ann's organisation's plan
GLOBEX_PLAN = "us-software-002:enterprise"  # Gus's


async def article(console: Console, publish: bool = True, **fields: Any) -> dict[str, Any]:
    """An article written by Bob, published unless said otherwise."""
    body = {"body": "Split the export into months.", "visibility": "customers", **fields}
    created = await console.api.bob.post("/kb/articles", json=body)
    assert created.status_code == 201, created.text
    made: dict[str, Any] = created.json()
    if publish:
        published = await console.api.bob.post(f"/kb/articles/{made['id']}/publish")
        assert published.status_code == 200, published.text
        made = published.json()
    return made


async def deflections(console: Console) -> dict[str, Any]:
    report = await console.api.ada.get("/kb/deflections")
    assert report.status_code == 200, report.text
    found: dict[str, Any] = report.json()
    return found


async def test_a_customer_finds_what_their_plan_may_read_and_nothing_else(
    console: Console,
) -> None:
    shared = await article(
        console,
        title="Exports time out on large reports",
        body="When an **export** runs past 60 seconds, split it into months.",
        category="exports",
    )
    ours = await article(
        console,
        title="Exports on the fast plan",
        body="The fast plan keeps exports for 30 days.",
        category="exports",
        visibility="plans",
        plans=[ACME_PLAN],
    )
    theirs = await article(
        console,
        title="Exports on the enterprise plan",
        visibility="plans",
        plans=[GLOBEX_PLAN],
        category="exports",
    )
    staff = await article(console, title="Exports runbook for agents", visibility="staff")
    draft = await article(console, title="Exports in the next release", publish=False)
    public = await article(console, title="Signing in", body="Use your e-mail address.")

    ann = await console.sign_in("ann")
    refused = csp_refusals(ann)
    nav = ann.get_by_role("navigation", name="Portal")
    await nav.get_by_role("link", name="Knowledge base").click()
    await expect(ann).to_have_url(f"{console.base_url}/portal/kb")
    await expect(nav.get_by_role("link", name="Knowledge base")).to_have_attribute(
        "aria-current", "page"
    )
    categories = ann.locator("#kb-categories")
    await expect(categories).to_contain_text("exports (2)")
    await expect(categories).to_contain_text("general (1)")

    await ann.get_by_label("Search the articles").fill("exports")
    await ann.get_by_role("button", name="Search", exact=True).click()
    results = ann.locator("#kb-results .kb-hit")
    found = await results.evaluate_all("els => els.map(e => Number(e.dataset.article))")
    assert sorted(found) == sorted([shared["id"], ours["id"]])
    hit = ann.locator(f"#kb-results .kb-hit[data-article='{shared['id']}']")
    await expect(hit.locator(".kb-hit-title mark")).to_have_text("Exports")
    await expect(hit.locator(".kb-snippet mark").first).to_have_text("export")
    await expect(hit.locator(".kb-snippet")).to_contain_text("split it into months")
    for hidden in (theirs, staff, draft):
        await expect(ann.locator("#kb-results")).not_to_contain_text(hidden["title"])
    await shot(ann, "portal-kb-search")

    await hit.get_by_role("link", name="Exports time out on large reports").click()
    await expect(ann).to_have_url(f"{console.base_url}/portal/kb/{shared['slug']}")
    await expect(ann.locator("#article-title")).to_have_text(shared["title"])
    await expect(ann.locator("#article-body strong")).to_have_text("export")
    await shot(ann, "portal-kb-article")
    await ann.get_by_role("link", name="exports", exact=True).click()
    listed = ann.locator("#kb-category-articles li")
    await expect(listed).to_have_count(2)
    await ann.goto(f"/portal/kb/{public['id']}")
    await expect(ann.locator("#article-title")).to_have_text("Signing in")
    assert refused == []

    # Staff-only, a draft, another plan's: by id or slug, as if they did not exist.
    for hidden in (theirs, staff, draft):
        for ref in (hidden["id"], hidden["slug"]):
            for path in (f"/portal/kb/{ref}", f"/portal/kb/{ref}/solved"):
                response = await ann.goto(path)
                assert response is not None and response.status == 404, path
                await expect(ann.locator(".error")).to_contain_text("does not exist")
    await shot(ann, "portal-kb-not-found")
    # Nor can "this solved it" be sent for one.
    await ann.goto(f"/portal/kb/{shared['id']}?q=Exports+fail")
    token = await ann.locator("form.solved input[name='csrf_token']").input_value()
    planted = await ann.request.post(
        f"/portal/kb/{staff['id']}/solved",
        form={"csrf_token": token, "idempotency_key": "k1", "query": "Exports fail"},
        headers={"Origin": console.base_url},
    )
    assert planted.status == 404
    assert (await deflections(console))["total"] == 0

    # The other plan's customer reads theirs, not Acme's.
    gus = await console.sign_in("gus")
    await gus.goto("/portal/kb?q=exports")
    found = await gus.locator("#kb-results .kb-hit").evaluate_all(
        "els => els.map(e => Number(e.dataset.article))"
    )
    assert sorted(found) == sorted([shared["id"], theirs["id"]])
    response = await gus.goto(f"/portal/kb/{ours['slug']}")
    assert response is not None and response.status == 404

    # Staff have the console's knowledge base; the portal's is for customers.
    bob = await console.sign_in("bob")
    response = await bob.goto("/portal/kb")
    assert response is not None and response.status == 403


async def test_hostile_article_text_stays_text(console: Console) -> None:
    hostile = await article(
        console,
        title="Tokens <script>window.owned = 1</script> reset",
        body=(
            "Reset the tokens.\n\n"
            "<script>document.title = 'owned'</script>\n\n"
            '<img src=x onerror="window.owned = 2" id=injected>\n\n'
            "[Open the tokens page](javascript:window.owned=3) or "
            '<a href="javascript:window.owned=4" id=raw-link>this one</a>.\n\n'
            "[A real page](https://example.com/tokens)"
        ),
    )
    ann = await console.sign_in("ann")
    refused = csp_refusals(ann)
    await ann.goto("/portal/kb?q=tokens")
    hit = ann.locator(f".kb-hit[data-article='{hostile['id']}']")
    await expect(hit.locator(".kb-hit-title")).to_have_text(
        "Tokens <script>window.owned = 1</script> reset"
    )
    await expect(hit.locator(".kb-snippet")).to_contain_text("<script>")
    assert await ann.locator("#main script").count() == 0

    await hit.get_by_role("link").first.click()
    await expect(ann.locator("#article-title")).to_have_text(hostile["title"])
    body = ann.locator("#article-body")
    await expect(body).to_contain_text("<script>document.title = 'owned'</script>")
    await expect(body).to_contain_text('<img src=x onerror="window.owned = 2" id=injected>')
    assert await body.locator("script, img, [onerror]").count() == 0
    assert await ann.locator("#injected, #raw-link").count() == 0
    hrefs = await body.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert not any(href and href.lower().startswith("javascript:") for href in hrefs), hrefs
    real = body.get_by_role("link", name="A real page")
    await expect(real).to_have_attribute("href", "https://example.com/tokens")
    await expect(real).to_have_attribute("rel", "noopener noreferrer")
    # The javascript: link is no link at all; clicking its text runs nothing.
    await body.get_by_text("Open the tokens page").click()
    assert await ann.evaluate("window.owned === undefined")
    assert (await ann.title()).startswith("Tokens <script>")  # not set to 'owned'
    await shot(ann, "portal-kb-hostile")
    assert refused == []


async def test_a_suggested_article_deflects_the_case_and_the_report_counts_it(
    console: Console,
) -> None:
    exports = await article(
        console,
        title="Exports time out on large reports",
        body="When an export runs past 60 seconds, split it into months.",
        category="exports",
    )
    await article(console, title="Staff notes on exports timing out", visibility="staff")

    ann = await console.sign_in("ann")
    refused = csp_refusals(ann)
    await ann.goto("/portal/cases/new")
    suggestions = ann.locator("#kb-suggestions")
    await expect(ann.locator("#kb-first")).to_be_hidden()
    title = ann.get_by_label("Title")
    await title.press_sequentially("Our exports time out", delay=30)
    suggested = suggestions.locator(f".kb-hit[data-article='{exports['id']}']")
    await expect(suggested).to_be_visible()
    await expect(suggestions).to_have_attribute("data-query", "Our exports time out")
    await expect(suggested.locator(".kb-hit-title mark").first).to_have_text("Exports")
    await expect(suggestions).not_to_contain_text("Staff notes")
    read = suggested.get_by_role("link", name=exports["title"])
    await expect(read).to_have_attribute(
        "href", f"/portal/kb/{exports['slug']}?q=Our%20exports%20time%20out"
    )
    await shot(ann, "portal-kb-suggested")

    # Typing on replaces the suggestions; an unknown title has none.
    await title.fill("")
    await title.press_sequentially("zzqx unheard of", delay=10)
    await expect(suggestions.locator(".kb-hit")).to_have_count(0)
    await expect(suggestions).to_contain_text("No article matches yet")
    await title.fill("Our exports time out")
    await expect(suggested).to_be_visible()

    # The form as the page holds it, to send it again afterwards (a double click).
    form = suggested.locator("form.solved")
    fields: dict[str, str | float | bool] = {
        name: await form.locator(f"input[name='{name}']").input_value()
        for name in ("csrf_token", "idempotency_key", "query")
    }
    assert fields["query"] == "Our exports time out"
    await suggested.get_by_role("button", name="This solved it").click()
    await expect(ann).to_have_url(f"{console.base_url}/portal/kb/{exports['slug']}/solved")
    await expect(ann.locator("#solved")).to_contain_text("no case was opened")
    await shot(ann, "portal-kb-solved")
    again = await ann.request.post(
        f"/portal/kb/{exports['id']}/solved", form=fields, headers={"Origin": console.base_url}
    )
    assert again.ok and again.url.endswith("/solved")
    assert refused == []

    # One deflection, for Acme's plan, this month, with the title typed; no case opened.
    month = datetime.now(UTC).strftime("%Y-%m")
    report = await deflections(console)
    assert report["rows"] == [{"plan": ACME_PLAN, "month": month, "deflected": 1}]
    assert (await console.api.ann.get("/cases")).json()["total"] == 0

    attainment = (await console.api.ada.get("/audit/attainment")).json()
    ours = [p for p in attainment["plan_months"] if p["plan"] == ACME_PLAN]
    assert ours == [
        {
            "plan": ACME_PLAN,
            "month": month,
            "met": 0,
            "breached": 0,
            "attainment": None,
            "opened": 0,
            "deflected": 1,
            "deflection_rate": 1.0,
        }
    ]
    as_csv = await console.api.ada.get(
        "/audit/attainment", params={"format": "csv", "table": "plans"}
    )
    assert as_csv.text.splitlines() == [
        "plan,month,met,breached,attainment,opened,deflected,deflection_rate",
        f"{ACME_PLAN},{month},0,0,,0,1,1.0",
    ]
    assert 'filename="sla-attainment-plans.csv"' in as_csv.headers["content-disposition"]

    # A case opened afterwards counts beside it.
    await console.open_case("Exports still time out")
    ada = await console.sign_in("ada")
    await ada.goto("/console/audit")
    row = ada.locator(f"#attainment-table tr[data-plan='{ACME_PLAN}'][data-month='{month}']")
    await expect(row.locator("td.opened")).to_have_text("1")
    await expect(row.locator("td.deflected")).to_have_text("1")
    await expect(row.locator("td.deflection-rate")).to_have_text("50.0 %")
    await shot(ada, "portal-kb-attainment")
    async with ada.expect_download() as downloading:
        await ada.get_by_role("link", name="Download per plan and month as CSV").click()
    download = await downloading.value
    assert download.suggested_filename == "sla-attainment-plans.csv"


async def test_without_javascript_the_knowledge_base_is_searched_first(console: Console) -> None:
    exports = await article(
        console, title="Exports time out on large reports", body="Split the export."
    )
    context = await console.browser.new_context(
        base_url=console.base_url, java_script_enabled=False
    )
    console.contexts.append(context)
    ann = await context.new_page()
    await ann.goto("/console/sign-in")
    await ann.get_by_label("User name").fill("ann")
    await ann.get_by_label("Password").fill(PASSWORD)
    await ann.get_by_role("button", name="Sign in").click()
    await ann.goto("/portal/cases/new")

    await ann.get_by_label("search the knowledge base").fill("exports time out")
    await ann.get_by_role("button", name="Search the knowledge base first").click()
    await expect(ann).to_have_url(re.compile(r"/portal/kb/suggest\?q=exports\+time\+out$"))
    suggested = ann.locator(f".kb-hit[data-article='{exports['id']}']")
    await expect(suggested.locator("mark").first).to_have_text("Exports")
    await shot(ann, "portal-kb-suggest-nojs")

    # None of them: the case form comes back with the title in it.
    await ann.get_by_role("link", name="None of these: open the case").click()
    await expect(ann.get_by_label("Title")).to_have_value("exports time out")
    await ann.go_back()
    # Or one of them solved it.
    await suggested.get_by_role("button", name="This solved it").click()
    await expect(ann.locator("#solved")).to_contain_text("no case was opened")
    report = await deflections(console)
    assert report["total"] == 1
    assert (await console.api.ann.get("/cases")).json()["total"] == 0


async def test_the_timeline_links_the_article_a_response_points_to(console: Console) -> None:
    exports = await article(console, title="Exports time out on large reports")
    number = await console.open_case("Exports time out")
    responded = await console.api.bob.post(
        f"/cases/{number}/respond",
        json={"message": "This article explains it.", "article": exports["id"]},
    )
    assert responded.status_code == 200, responded.text

    ann = await console.sign_in("ann")
    await ann.goto(f"/portal/cases/{number}")
    response = ann.locator("#timeline .event.responded")
    link = response.get_by_role("link", name=exports["title"])
    await expect(link).to_have_attribute("href", f"/portal/kb/{exports['id']}")
    await shot(ann, "portal-kb-timeline")
    await link.click()
    await expect(ann.locator("#article-title")).to_have_text(exports["title"])

    # Archived since: named as gone, not linked to a 404.
    archived = await console.api.bob.post(f"/kb/articles/{exports['id']}/archive")
    assert archived.status_code == 200, archived.text
    await ann.goto(f"/portal/cases/{number}")
    await expect(response.locator(".article")).to_have_text("Article: no longer available")
    await expect(response.get_by_role("link")).to_have_count(0)


async def test_a_visitor_reads_the_public_articles_without_signing_in(console: Console) -> None:
    """Public articles are for anyone: searched, listed and read signed out; everything
    else (customers', a plan's, staff's) is a 404 as for a stranger, and the rest of the
    portal asks to sign in."""
    public = await article(
        console,
        title="Resetting an export",
        body="Open **Exports**, then *Reset*.",
        category="exports",
        visibility="public",
    )
    customers = await article(console, title="Exports for customers", category="exports")
    plan = await article(
        console, title="Exports on fast", visibility="plans", plans=[ACME_PLAN], category="exports"
    )
    staff = await article(console, title="Exports runbook", visibility="staff", category="exports")

    visitor = await console.page()
    refused = csp_refusals(visitor)
    await visitor.goto("/portal/kb")
    await expect(visitor.get_by_role("heading", level=1)).to_have_text("Knowledge base")
    await expect(visitor.locator("#kb-categories")).to_contain_text("exports (1)")
    nav = visitor.get_by_role("navigation", name="Portal")
    await expect(nav.get_by_role("link")).to_have_count(1)  # the knowledge base alone
    await visitor.get_by_label("Search the articles").fill("exports")
    await visitor.get_by_role("button", name="Search", exact=True).click()
    found = await visitor.locator("#kb-results .kb-hit").evaluate_all(
        "els => els.map(e => Number(e.dataset.article))"
    )
    assert found == [public["id"]]
    await visitor.get_by_role("link", name="Resetting an export").click()
    await expect(visitor.locator("#article-body strong")).to_have_text("Exports")
    await shot(visitor, "portal-kb-visitor")
    # No "this solved it" for a visitor: a deflection is a customer's.
    await visitor.goto(f"/portal/kb/{public['id']}?q=Exports+fail")
    await expect(visitor.locator("form.solved")).to_have_count(0)
    for hidden in (customers, plan, staff):
        response = await visitor.goto(f"/portal/kb/{hidden['slug']}")
        assert response is not None and response.status == 404, hidden["title"]
    for page in ("/portal", "/portal/notices", "/portal/kb/suggest?q=exports"):
        response = await visitor.goto(page)
        assert response is not None
        await expect(visitor).to_have_url(re.compile(r"/console/sign-in\?next="))
    await visitor.goto("/portal/kb")
    await visitor.get_by_role("link", name="Sign in").first.click()
    await visitor.get_by_label("User name").fill("ann")
    await visitor.get_by_label("Password").fill(PASSWORD)
    await visitor.get_by_role("button", name="Sign in").click()
    await expect(visitor).to_have_url(f"{console.base_url}/portal/kb")
    await expect(visitor.locator("#kb-categories")).to_contain_text("exports (3)")
    assert refused == []
