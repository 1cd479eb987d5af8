"""The releases pages in real Chromium: plan, link, start, hotfix, ship with a live count of
resolved cases; refusals with their reasons; who may see and do what."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.web.conftest import Console, form_token, shot


async def tier3(console: Console, title: str = "Reports fail") -> int:
    number = await console.open_case(title)
    escalated = await console.api.bob.post(
        f"/cases/{number}/escalate", json={"tier": 3, "reason": "needs a code change"}
    )
    assert escalated.status_code == 200, escalated.text
    return number


async def click(page: Page, button: str) -> None:
    await page.get_by_role("button", name=button, exact=True).click()


async def test_a_release_manager_plans_links_and_ships_and_the_count_follows(
    console: Console,
) -> None:
    number = await tier3(console, "Totals <b>off</b> by one")
    rex = await console.sign_in("rex")
    await rex.get_by_role("navigation", name="Console").get_by_role("link", name="Releases").click()
    await expect(rex).to_have_url(f"{console.base_url}/console/releases")
    await rex.get_by_label("Version").fill("4.2.2")
    await rex.get_by_label("Kind").select_option("patch")
    await rex.get_by_label("Notes").fill("Fixes the totals & <everything> else.")
    await click(rex, "Plan a release")
    await expect(rex).to_have_url(f"{console.base_url}/console/releases/4.2.2")
    await expect(rex.get_by_role("heading", level=1)).to_contain_text("4.2.2")
    await expect(rex.locator("#release-status")).to_have_text("planned")

    await rex.get_by_label("Case number").fill(str(number))
    await click(rex, "Link a case")
    row = rex.locator(f"#linked tr[data-number='{number}']")
    await expect(row.locator(".title")).to_have_text("Totals <b>off</b> by one")
    await expect(rex.locator("#resolved")).to_have_text("0 of 1 linked case resolved")
    await expect(rex.locator("#release-notes")).to_contain_text(f"- case {number} (acme)")
    await expect(rex.locator("#release-notes")).to_contain_text("<everything>")

    # An auditor watches the same release: no forms, and the count changes by itself.
    ada = await console.sign_in("ada")
    await ada.goto("/console/releases/4.2.2")
    await expect(ada.locator("body[data-live-connected='yes']")).to_have_count(1)
    await expect(ada.locator("#main form")).to_have_count(0)
    await expect(ada.locator("#main")).to_contain_text("you may read them")
    await ada.evaluate("window.notReloaded = true")

    await click(rex, "Start")
    await expect(rex.locator("#release-status")).to_have_text("in progress")
    await rex.get_by_label("Build").fill("4.2.2-hf1")
    await click(rex, "Publish a hotfix")
    await expect(rex.locator("#release-build")).to_have_text("4.2.2-hf1")
    await click(rex, "Ship")
    await expect(rex.locator("#release-status")).to_have_text("shipped")
    await expect(rex.locator("#resolved")).to_have_text("1 of 1 linked case resolved")
    await expect(row.locator(".case-status")).to_have_text("resolved")
    await expect(rex.locator("#action-ship")).to_have_count(0)
    await shot(rex, "release")

    await expect(ada.locator("#resolved-count")).to_have_text("1")
    await expect(ada.locator("#release-status")).to_have_text("shipped")
    assert await ada.evaluate("window.notReloaded") is True

    # The release was projected before its cases were told, so the list shows it shipped.
    await rex.goto("/console/releases")
    listed = rex.locator("tr[data-version='4.2.2']")
    await expect(listed).to_contain_text("shipped")
    await expect(listed).to_contain_text("4.2.2-hf1")
    await shot(rex, "releases")
    await listed.get_by_role("link", name="4.2.2").click()
    await rex.locator(f"#linked a[href='/console/cases/{number}']").click()
    await expect(rex.get_by_role("heading", level=1)).to_contain_text(f"#{number}")
    await expect(rex.locator("#case-status")).to_have_text("resolved")


async def test_refusals_show_their_reason_next_to_the_form(console: Console) -> None:
    planned = await console.api.rex.post("/releases", json={"version": "9.0", "kind": "major"})
    assert planned.status_code == 201, planned.text
    number = await console.open_case()  # not in tier 3
    rex = await console.sign_in("rex")
    await rex.goto("/console/releases/9.0")

    linked = await tier3(console, "Linked, then not")
    await rex.get_by_label("Case number").fill(str(linked))
    await click(rex, "Link a case")
    await expect(rex.locator("#resolved")).to_have_text("0 of 1 linked case resolved")
    await rex.get_by_role("button", name=f"Unlink case {linked}").click()
    await expect(rex.locator("#linked tr[data-number]")).to_have_count(0)
    await expect(rex.locator("#history .case_unlinked")).to_contain_text(f"case: {linked}")

    await rex.get_by_label("Case number").fill(str(number))
    async with rex.expect_response("**/console/releases/9.0/link") as answer:
        await click(rex, "Link a case")
    assert (await answer.value).status == 409
    await expect(rex.locator("#error-link")).to_contain_text("only tier-3 cases can be linked")
    await expect(rex.get_by_label("Case number")).to_have_value(str(number))
    await expect(rex.locator("#resolved")).to_have_text("0 of 0 linked cases resolved")

    # Blank after trimming: the API's own model refuses it, and the page says which field.
    await rex.get_by_label("Build").fill("   ")
    async with rex.expect_response("**/console/releases/9.0/hotfix") as answer:
        await click(rex, "Publish a hotfix")
    assert (await answer.value).status == 422
    await expect(rex.locator("#error-hotfix")).to_contain_text("build")

    # Cancelled meanwhile over the API: this screen's Start form is an old one.
    cancelled = await console.api.rex.post(
        "/releases/9.0/cancel", json={"reason": "merged into 9.1"}
    )
    assert cancelled.status_code == 200, cancelled.text
    async with rex.expect_response("**/console/releases/9.0/start") as answer:
        await click(rex, "Start")
    assert (await answer.value).status == 409
    await expect(rex.locator("#error-start")).to_have_text("release 9.0 is cancelled")
    await expect(rex.locator("#release-status")).to_have_text("cancelled")
    await expect(rex.locator("#cancelled-reason")).to_have_text("merged into 9.1")
    await expect(rex.locator("#action-ship")).to_have_count(0)
    await shot(rex, "release-refused")

    # Planning 9.0 again as another kind: the workflow's answer, next to the plan form.
    await rex.goto("/console/releases")
    await rex.get_by_label("Version").fill("9.0")
    await rex.get_by_label("Kind").select_option("hotfix")
    async with rex.expect_response("**/console/releases") as answer:
        await click(rex, "Plan a release")
    assert (await answer.value).status == 409
    await expect(rex.locator("#error-plan")).to_have_text("release 9.0 exists already as a major")
    await expect(rex.get_by_label("Version")).to_have_value("9.0")


async def test_customers_are_refused_and_auditors_and_agents_only_read(
    console: Console,
) -> None:
    planned = await console.api.rex.post("/releases", json={"version": "5.0", "kind": "major"})
    assert planned.status_code == 201, planned.text
    ann = await console.sign_in("ann")
    answer = await ann.goto("/console/releases")
    assert answer is not None and answer.status == 403
    await expect(ann.locator(".error")).to_contain_text("a customer may not open this page")
    answer = await ann.goto("/console/releases/5.0")
    assert answer is not None and answer.status == 403

    readers = {user: await console.sign_in(user) for user in ("bob", "ada")}
    for page in readers.values():
        await page.goto("/console/releases")
        await expect(page.locator("#action-plan")).to_have_count(0)
        await expect(page.locator("#main")).to_contain_text("you may read them")
        await page.goto("/console/releases/5.0")
        await expect(page.locator("#release-status")).to_have_text("planned")
        await expect(page.locator("#main form")).to_have_count(0)

    # A form posted anyway (the page offers none): the API's refusal, next to the form.
    ada = readers["ada"]
    token = form_token(await ada.content())
    refused = await ada.request.post("/console/releases/5.0/ship", form={"csrf_token": token})
    assert refused.status == 403
    assert re.search(r'id="error-ship">an auditor may not do this', await refused.text())
    # Without the session's token the form is refused before anything else.
    forged = await ada.request.post("/console/releases/5.0/ship", form={"csrf_token": "x"})
    assert forged.status == 403
    assert "did not come from this site" in await forged.text()
    assert (await console.api.rex.get("/releases/5.0")).json()["status"] == "planned"
    await shot(ada, "releases-auditor")


async def test_the_release_filter_takes_any_status_or_one(console: Console) -> None:
    page = await console.sign_in("rex")
    for query, status in (("", 200), ("planned", 200), ("nonsense", 422)):
        response = await page.goto(f"/console/releases?status={query}")
        assert response is not None and response.status == status, query


async def test_cancelling_a_release_returns_its_cases_to_tier_3(console: Console) -> None:
    number = await tier3(console, "Cancelled fix")
    rex = await console.sign_in("rex")
    await rex.goto("/console/releases")
    await rex.get_by_label("Version").fill("7.1")
    await rex.get_by_label("Kind").select_option("patch")
    await click(rex, "Plan a release")
    await rex.get_by_label("Case number").fill(str(number))
    await click(rex, "Link a case")
    await expect(rex.locator("#resolved")).to_have_text("0 of 1 linked case resolved")
    await rex.get_by_label("Reason").fill("The fix moves to 7.2.")
    await click(rex, "Cancel the release")
    await expect(rex.locator("#release-status")).to_have_text("cancelled")
    await expect(rex.locator("#cancelled-reason")).to_have_text("The fix moves to 7.2.")
    await expect(rex.locator("#main form")).to_have_count(0)
    await shot(rex, "release-cancelled")
    case = (await console.api.bob.get(f"/cases/{number}")).json()
    assert (case["tier"], case["status"], case["release"]) == (3, "tier3", None)
