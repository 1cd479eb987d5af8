"""The audit pages in real Chromium: a case's audit timeline, replay verdict, the case as
of an instant chosen on a time slider, the evidence download, the attainment chart; and
who may open them (the API's audit roles)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

from playwright.async_api import Download, Page, expect

from audit.evidence import verify_bundle
from tests.web.conftest import PASSWORD, Console, shot

MARKUP = "<img src=x id=injected> Reports fail"


async def saved(download: Download) -> bytes:
    return await asyncio.to_thread(Path(await download.path()).read_bytes)


def csp_refusals(page: Page) -> list[str]:
    """What the page's Content-Security-Policy refuses from here on (an inline style or
    script would be)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


async def test_an_auditor_reads_a_case_as_it_was_and_downloads_its_evidence(
    console: Console,
) -> None:
    number = await console.open_case(MARKUP)
    responded = await console.api.bob.post(
        f"/cases/{number}/respond", json={"message": "We are on it <b>now</b>."}
    )
    assert responded.status_code == 200, responded.text

    ada = await console.sign_in("ada")
    refused = csp_refusals(ada)
    nav = ada.get_by_role("navigation", name="Console")
    await nav.get_by_role("link", name="Audit").click()
    await expect(ada).to_have_url(f"{console.base_url}/console/audit")
    await ada.get_by_label("Case number").fill(str(number))
    await ada.get_by_role("button", name="Audit", exact=True).click()
    await expect(ada).to_have_url(f"{console.base_url}/console/audit/cases/{number}")
    await expect(ada.locator("h1 .title")).to_have_text(MARKUP)
    assert await ada.locator("#injected").count() == 0

    await expect(ada.locator("#verdict")).to_have_attribute("data-status", "intact")
    await expect(ada.locator("#verdict")).to_contain_text("Intact")
    timeline = ada.locator("#audit-timeline")
    await expect(timeline.locator("li[data-kind='opened']")).to_have_count(1)
    response = timeline.locator("li[data-kind='responded']")
    await expect(response).to_contain_text("We are on it <b>now</b>.")
    await expect(response).to_contain_text("bob (agent)")
    await expect(response.locator(".provenance")).to_contain_text("history event")
    await expect(ada.locator("#continuity")).to_contain_text("without gap or repeat")

    # As of now the case has its response; the slider stands at the right end.
    await expect(ada.locator("#as-of-first-response time")).to_have_count(1)
    await expect(response).not_to_have_class(re.compile(r"\blater\b"))

    # Back to the opening instant by keyboard: the case as it was then, with no response.
    slider = ada.get_by_label("Instant in the case's life")
    await slider.focus()
    await ada.keyboard.press("Home")
    await expect(ada).to_have_url(re.compile(r"[?&]offset=0\b"))
    await expect(ada.locator("#as-of-first-response")).to_have_text("none yet")
    await expect(
        ada.locator("#as-of-clocks tr[data-clock='first_response'] .clock-state")
    ).not_to_contain_text("met")
    await expect(response).to_have_class(re.compile(r"\blater\b"))
    await expect(ada.locator("#as-of-case")).to_have_attribute("data-seq", re.compile(r"^[1-9]"))
    # The slider keeps the focus across the reload, and names the instant, not seconds.
    await expect(slider).to_be_focused()
    await expect(slider).to_have_attribute("aria-valuetext", re.compile(r"UTC$"))
    await shot(ada, "audit-case")

    # An instant typed before the case opened is refused beside the form.
    field = ada.get_by_label("Date and time (UTC)")
    await field.evaluate("field => field.removeAttribute('min')")
    await field.fill("2001-01-01T00:00:00")
    async with ada.expect_response(re.compile(r"/console/audit/cases/\d+\?at=")) as answer:
        await ada.get_by_role("button", name="Show the case at this date and time").click()
    assert (await answer.value).status == 422
    await expect(ada.locator("#as-of-error")).to_contain_text(
        "the case had not opened at 2001-01-01"
    )

    # The evidence file: the API's, down to the head digest.
    async with ada.expect_download() as downloading:
        await ada.get_by_role("link", name="Download the evidence file").click()
    download = await downloading.value
    assert download.suggested_filename == f"case-{number}.evidence.json"
    data = await saved(download)
    report = verify_bundle(data)
    assert report.intact, report.summary()
    from_api = await console.api.ada.get(f"/audit/cases/{number}/evidence")
    assert from_api.status_code == 200
    assert report.head == from_api.headers["x-evidence-head"]
    ours, theirs = json.loads(data), from_api.json()
    for part in ("format", "version", "header", "runs", "policy_snapshot", "timeline"):
        assert ours[part] == theirs[part], part
    assert ours["export"]["exported_by"] == "ada"
    assert refused == []


async def test_the_attainment_chart_and_its_table(console: Console) -> None:
    number = await console.open_case()
    responded = await console.api.bob.post(
        f"/cases/{number}/respond", json={"message": "Looking into it."}
    )
    assert responded.status_code == 200, responded.text
    expected = (await console.api.ada.get("/audit/attainment")).json()
    plans = {row["plan"] for row in expected["rows"]}
    assert "short-sla:fast" in plans, expected

    ada = await console.sign_in("ada")
    refused = csp_refusals(ada)
    await ada.goto("/console/audit")
    chart = ada.locator("#attainment-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator("g[data-plan='short-sla:fast'] rect.bar")).to_have_count(1)
    row = ada.locator("#attainment-table tr[data-plan='short-sla:fast']")
    met = sum(r["met"] for r in expected["rows"] if r["plan"] == "short-sla:fast")
    await expect(row.locator("td").nth(1)).to_have_text(str(met))
    await shot(ada, "audit")

    async with ada.expect_download() as downloading:
        await ada.get_by_role("link", name="Download every row as CSV").click()
    csv_text = (await saved(await downloading.value)).decode()
    from_api = await console.api.ada.get("/audit/attainment", params={"format": "csv"})
    assert csv_text.splitlines()[0] == from_api.text.splitlines()[0]
    assert len(csv_text.splitlines()) == len(from_api.text.splitlines())

    # A period that ends before it begins is refused beside the form.
    await ada.get_by_label("From (UTC day, inclusive)").fill("2026-12-01")
    await ada.get_by_label("Until (UTC day, exclusive)").fill("2026-11-01")
    async with ada.expect_response(re.compile(r"/console/audit\?since=")) as answer:
        await ada.get_by_role("button", name="Show", exact=True).click()
    assert (await answer.value).status == 422
    await expect(ada.locator("#until-error")).to_have_text("must come after since")
    await expect(ada.get_by_label("Until (UTC day, exclusive)")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert refused == []


async def test_the_as_of_forms_work_without_javascript(console: Console) -> None:
    number = await console.open_case()
    responded = await console.api.bob.post(
        f"/cases/{number}/respond", json={"message": "Looking into it."}
    )
    assert responded.status_code == 200, responded.text
    context = await console.browser.new_context(
        base_url=console.base_url, java_script_enabled=False
    )
    console.contexts.append(context)
    ada = await context.new_page()
    await ada.goto("/console/sign-in")
    await ada.get_by_label("User name").fill("ada")
    await ada.get_by_label("Password").fill(PASSWORD)
    await ada.get_by_role("button", name="Sign in").click()
    await ada.goto(f"/console/audit/cases/{number}")

    await ada.get_by_label("Instant in the case's life").fill("0")
    await ada.get_by_role("button", name="Show the case at the slider's instant").click()
    await expect(ada).to_have_url(re.compile(r"[?&]offset=0\b"))
    await expect(ada.locator("#as-of-first-response")).to_have_text("none yet")

    # The second of the response, typed: the case has its response then.
    response = ada.locator("#audit-timeline li[data-kind='responded']")
    at = datetime.fromisoformat(await response.locator("time").get_attribute("datetime") or "")
    second = (at.replace(microsecond=0) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    await ada.get_by_label("Date and time (UTC)").fill(second)
    await ada.get_by_role("button", name="Show the case at this date and time").click()
    await expect(ada).to_have_url(re.compile(r"[?&]at="))
    await expect(ada.locator("#as-of-first-response time")).to_have_count(1)
    await expect(response).not_to_have_class(re.compile(r"\blater\b"))


async def test_only_the_apis_audit_roles_open_the_audit_pages(console: Console) -> None:
    number = await console.open_case()
    for user in ("bob", "ann"):
        page = await console.sign_in(user)
        for path in (
            "/console/audit",
            f"/console/audit/cases/{number}",
            f"/console/audit/cases/{number}/evidence",
            "/console/audit/attainment.csv",
        ):
            answer = await page.goto(path)
            assert answer is not None and answer.status == 403, (user, path)
        await expect(page.locator(".error")).to_contain_text("may not open this page")
        nav = page.get_by_role("navigation", name="Console")
        await expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
        await shot(page, f"audit-refused-{user}")
    # Every role the same answer as the API's audit routes gives it.
    for user in ("admin", "bob", "tia", "ann", "gus", "ada", "rex", "peter"):
        by_api = await getattr(console.api, user).get("/audit/attainment")
        page = await console.sign_in(user)
        by_page = await page.request.get("/console/audit", max_redirects=0)
        assert by_page.status == by_api.status_code, (user, by_page.status, by_api.status_code)

    ada = await console.sign_in("ada")
    missing = await ada.goto("/console/audit/cases/999999")
    assert missing is not None and missing.status == 404
    await expect(ada.locator(".error")).to_contain_text("case 999999 has no workflow history")
