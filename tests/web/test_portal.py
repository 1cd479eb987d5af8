"""The customer portal in real Chromium: opening a case with the plan's promises, the
organisation's cases and nothing of anyone else's, replying and confirming, the quota,
notices, releases, and the console's protections."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import FilePayload, Page, expect

from tests.web.conftest import Console, shot
from web.links import RedactLinkTokens
from web.render import iso

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def open_as(console: Console, user: str, organisation: str, title: str) -> int:
    """A case opened through the API by a customer of `organisation`."""
    response = await console.api.users[user].post(
        "/cases",
        json={
            "organisation": organisation,
            "company_name": organisation.capitalize(),
            "contact": {"name": user.capitalize(), "email": f"{user}@{organisation}.example"},
            "title": title,
            "details": "Nothing renders since this morning.",
            "severity": "normal" if organisation == "acme" else "low",
        },
    )
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


def csp_refusals(page: Page) -> list[str]:
    """What the page's Content-Security-Policy refuses from here on."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


async def reply(page: Page, text: str, files: tuple[tuple[str, str, bytes], ...] = ()) -> None:
    await page.get_by_label("Your reply").fill(text)
    if files:
        await page.locator("#reply-attachments").set_input_files(
            [FilePayload(name=name, mimeType=kind, buffer=data) for name, kind, data in files]
        )
    await page.get_by_role("button", name="Reply").click()


async def test_a_customer_opens_a_case_with_the_plans_promises_and_an_agent_sees_it(
    console: Console,
) -> None:
    gus = await console.sign_in("gus")
    refused = csp_refusals(gus)
    await expect(gus).to_have_url(f"{console.base_url}/portal")
    await expect(gus.locator("#organisation-name")).to_have_text("Globex")
    await (
        gus.get_by_role("navigation", name="Portal").get_by_role("link", name="Open a case").click()
    )
    await expect(gus).to_have_url(f"{console.base_url}/portal/cases/new")
    # The plan's severities with their definitions, and what each promises if filed now.
    high = gus.locator(".severity-choice[data-severity='high']")
    await expect(high).to_contain_text(
        "The issue is preventing the customer from conducting business operations."
    )
    first_response = high.locator("[data-promise='first_response']")
    await expect(first_response).to_contain_text("within 30 minutes: by")
    # In the plan calendar's own zone (America/Chicago): CST or CDT.
    await expect(first_response).to_contain_text(re.compile(r"\d{2}:\d{2} C[SD]T"))
    await expect(high.locator("[data-promise='resolution']")).to_have_text("no commitment")
    await expect(gus.locator("#quota")).to_contain_text("no monthly limit")
    promised = parse(await first_response.locator("time").get_attribute("datetime") or "")
    # The organisation and the user are filled in; the rest is the customer's to say.
    await expect(gus.get_by_label("Company name")).to_have_value("Globex")
    await expect(gus.get_by_label("Contact name")).to_have_value("Gus Customer")
    await gus.get_by_label("Contact e-mail").fill("gus@globex.example")
    await gus.get_by_label("Title").fill("Checkout rejects every card")
    await gus.get_by_label("Details").fill("Since 9:00 every payment fails with E42.")
    await gus.get_by_label("High Priority").check()
    await gus.locator("#attachments").set_input_files(
        [FilePayload(name="gateway.log", mimeType="text/plain", buffer=b"E42 card declined\n")]
    )
    await shot(gus, "portal-new-case")
    await gus.get_by_role("button", name="Open the case").click()
    await expect(gus.get_by_role("heading", level=1)).to_contain_text("Checkout rejects every card")
    number = int(gus.url.rsplit("/", 1)[1])
    await expect(gus.locator("#case-details")).to_contain_text("Attached: gateway.log (18 bytes)")
    await expect(gus.locator("#files")).to_contain_text("gateway.log")
    await expect(gus.locator(".clock[data-clock='first_response']")).to_be_visible()
    await expect(gus.locator(".clock[data-clock='tier1']")).to_have_count(0)
    await shot(gus, "portal-case")

    case = (await console.api.bob.get(f"/cases/{number}")).json()
    assert case["details"]["channel"] == "web"
    assert case["details"]["organisation"] == "globex"
    assert case["opened_by"] == {"id": "gus", "role": "customer"}
    due = next(c["due_at"] for c in case["clocks"] if c["name"] == "first_response")
    # The promise shown was the one the case got (give or take the time to fill the form).
    assert timedelta(0) <= parse(due) - promised < timedelta(minutes=2)
    files = (await console.api.bob.get(f"/cases/{number}/attachments")).json()
    assert [(f["filename"], f["size"]) for f in files] == [("gateway.log", 18)]

    async with gus.expect_download() as download:
        await gus.get_by_role("link", name="gateway.log").click()
    saved = Path(await (await download.value).path())
    assert await asyncio.to_thread(saved.read_bytes) == b"E42 card declined\n"
    assert refused == []

    bob = await console.sign_in("bob")
    row = bob.locator(f"tr[data-number='{number}']")
    await expect(row).to_contain_text("Checkout rejects every card")
    await expect(row).to_contain_text("Globex")


async def test_a_customer_sees_nothing_of_another_organisation(console: Console) -> None:
    ours = await open_as(console, "ann", "acme", "Our own case")
    theirs = await open_as(console, "gus", "globex", "Globex secret case")
    now = datetime.now(UTC)
    notices = {}
    for name, body in (
        (
            "current",
            {
                "kind": "scheduled_outage",
                "organisations": ["acme"],
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
            },
        ),
        (
            "past",
            {
                "kind": "scheduled_outage",
                "organisations": ["acme"],
                "starts_at": (now - timedelta(days=2)).isoformat(),
                "ends_at": (now - timedelta(days=1)).isoformat(),
            },
        ),
        ("update", {"kind": "business_continuity", "organisations": ["acme"]}),
        ("globex", {"kind": "business_continuity", "organisations": ["globex"]}),
    ):
        sent = await console.api.bob.post(
            "/notices", json={**body, "title": f"Notice {name}", "body": f"About {name}."}
        )
        assert sent.status_code == 201, sent.text
        notices[name] = sent.json()["id"]

    # Gus sends a file with a reply on Globex's case.
    gus = await console.sign_in("gus")
    await gus.goto(f"/portal/cases/{theirs}")
    await reply(gus, "Here is the screenshot.", (("screen.png", "image/png", PNG),))
    await expect(gus.locator("#files")).to_contain_text("screen.png")
    link = await gus.get_by_role("link", name="screen.png").get_attribute("href") or ""
    attachment = int(link.rsplit("/", 1)[1])

    ann = await console.sign_in("ann")
    await expect(ann.locator(f"tr[data-number='{ours}']")).to_contain_text("Our own case")
    await expect(ann.locator(f"tr[data-number='{theirs}']")).to_have_count(0)
    await shot(ann, "portal-cases")
    for path in (
        f"/portal/cases/{theirs}",
        f"/portal/cases/{theirs}?part=live",
        f"/portal/cases/{theirs}/attachments/{attachment}",
        f"/portal/cases/{ours}/attachments/{attachment}",
        f"/portal/notices/{notices['globex']}",
    ):
        response = await ann.goto(path)
        assert response is not None and response.status == 404, path
        await expect(ann.locator(".error")).to_contain_text(
            re.compile("does not exist|has no attachment")
        )
    await shot(ann, "portal-not-found")
    # Acting on another organisation's case, with a valid form of her own, is 404 too.
    await ann.goto(f"/portal/cases/{ours}")
    token = await ann.locator("input[name='csrf_token']").first.input_value()
    planted = await ann.request.post(
        f"/portal/cases/{theirs}/reply",
        form={"csrf_token": token, "message": "planted"},
        headers={"Origin": console.base_url},
    )
    assert planted.status == 404
    timeline = (await console.api.bob.get(f"/cases/{theirs}/timeline")).json()
    assert all(e["reason"] != "planted" for e in timeline)

    await ann.goto("/portal/notices")
    await expect(ann.locator("#notices-now")).to_contain_text("Notice current")
    await expect(ann.locator("#notices-updates")).to_contain_text("Notice update")
    await expect(ann.locator("#notices-past")).to_contain_text("Notice past")
    await expect(ann.locator("#main")).not_to_contain_text("Notice globex")
    order = await ann.locator("li.notice").evaluate_all("els => els.map(e => e.dataset.notice)")
    assert order == [str(notices[n]) for n in ("current", "update", "past")]
    await shot(ann, "portal-notices")
    await ann.get_by_role("link", name="Notice current").click()
    await expect(ann.locator("#notice-body")).to_have_text("About current.")

    # Staff have the console; the portal is for customers.
    bob = await console.sign_in("bob")
    response = await bob.goto("/portal")
    assert response is not None and response.status == 403
    await expect(bob.locator(".error")).to_contain_text("an agent may not open this page")


async def test_a_customer_replies_escalates_and_confirms_without_internal_notes(
    console: Console,
) -> None:
    number = await console.open_case("Exports hang at 99 %")
    for action, body in (
        ("respond", {"message": "We are looking into it."}),
        ("notes", {"note": "Customer runs the old build; do not tell them yet."}),
    ):
        sent = await console.api.bob.post(f"/cases/{number}/{action}", json=body)
        assert sent.status_code == 200, sent.text
    ann = await console.sign_in("ann")
    await ann.get_by_role("link", name=f"#{number}").click()
    await expect(ann.locator("#timeline")).to_contain_text("We are looking into it.")
    await expect(ann.locator("#timeline")).not_to_contain_text("old build")
    await expect(ann.locator("#timeline .event.note_added")).to_have_count(0)
    await expect(ann.locator("#timeline .event.clock_started")).to_have_count(0)
    await expect(ann.locator("#timeline")).to_contain_text("Support")
    await expect(ann.locator("#timeline")).not_to_contain_text("bob")
    # The clocks a customer is promised; tier 1's is the support team's own.
    await expect(ann.locator("[data-clock-row]")).to_have_count(3)
    await expect(ann.locator("[data-clock-row='tier1']")).to_have_count(0)

    refused = csp_refusals(ann)
    # `r` goes to the reply, as in the console.
    await ann.keyboard.press("r")
    await expect(ann.get_by_label("Your reply")).to_be_focused()
    await reply(ann, "Still hangs after a restart.", (("hang.png", "image/png", PNG),))
    await expect(ann.locator("#timeline .event.customer_replied")).to_contain_text(
        "Still hangs after a restart."
    )
    await expect(ann.locator("#timeline .event.customer_replied")).to_contain_text(
        "Attached: hang.png (72 bytes)"
    )
    await ann.get_by_label("Why you ask for escalation").fill("Our month-end close depends on it.")
    await ann.get_by_role("button", name="Ask for management escalation").click()
    await expect(ann.locator("#timeline .event.management_escalated")).to_have_count(1)
    # The severity: the choice names the plan's levels, the promises follow it.
    await ann.get_by_label("New severity").select_option(label="Critical")
    await ann.get_by_label("Why the severity changes").fill("Month-end close is tomorrow.")
    await ann.get_by_role("button", name="Change the severity").click()
    await expect(ann.locator("#timeline .event.severity_changed")).to_have_count(1)
    assert (await console.api.bob.get(f"/cases/{number}")).json()["severity"] == "critical"

    # The agent resolves: the page follows by itself, and offers confirming.
    await expect(ann.locator("body[data-live-connected='yes']")).to_have_count(1)
    await ann.evaluate("window.notReloaded = true")
    resolved = await console.api.bob.post(
        f"/cases/{number}/resolve",
        json={"summary": "Export batching fixed.", "root_cause_analysis": "Batch size overflow."},
    )
    assert resolved.status_code == 200, resolved.text
    await expect(ann.locator("#case-status")).to_have_text("resolved")
    await expect(ann.locator("#action-confirm")).to_be_visible()
    await expect(ann.locator("#action-reply")).to_have_count(0)
    assert await ann.evaluate("window.notReloaded") is True
    await shot(ann, "portal-resolved")
    await ann.get_by_label("Any comment").fill("Works now, thanks.")
    await ann.get_by_role("button", name="Confirm the resolution").click()
    await expect(ann.locator("#case-status")).to_have_text("closed")
    await expect(ann.locator("#action-reopen")).to_be_visible()
    case = (await console.api.bob.get(f"/cases/{number}")).json()
    assert case["status"] == "closed"
    # Until when: the workflow's deadline, in the plan's calendar (the fast plan's is UTC).
    until = datetime.fromisoformat(case["reopen_until"])
    shown = ann.locator("#reopen-until time")
    await expect(shown).to_have_attribute("datetime", iso(until))
    await expect(shown).to_contain_text(f"{until.astimezone(UTC):%d %b %Y, %H:%M} UTC")
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    confirmed = [e for e in timeline if e["kind"] == "confirmed"]
    assert [(e["actor_id"], e["reason"]) for e in confirmed] == [("ann", "Works now, thanks.")]
    # Within the plan's reopen window (an hour on the fast plan) it opens again.
    await ann.locator("#action-reopen textarea, #action-reopen input:not([type=hidden])").fill(
        "It hangs again since this morning."
    )
    await ann.locator("#action-reopen").get_by_role("button").click()
    await expect(ann.locator("#timeline .event.reopened")).to_have_count(1)
    await expect(ann.locator("#action-reply")).to_be_visible()
    assert (await console.api.bob.get(f"/cases/{number}")).json()["status"] != "closed"
    assert refused == []


async def test_the_quota_shows_what_is_left_and_refuses_when_used_up(console: Console) -> None:
    # Acme's plan (short-sla:fast) includes 4 incidents a month.
    for n in range(3):
        await console.open_case(f"Incident {n + 1}")
    ann = await console.sign_in("ann")
    await ann.goto("/portal/cases/new")
    await expect(ann.locator("#quota")).to_contain_text("1 of 4 incidents left this month")

    async def fill(title: str) -> None:
        await ann.get_by_label("Contact e-mail").fill("ann@acme.example")
        await ann.get_by_label("Title").fill(title)
        await ann.get_by_label("Details").fill("The fourth, and the last of the month.")
        await ann.get_by_label("Normal").check()
        await ann.get_by_role("button", name="Open the case").click()

    await fill("Incident 4")
    await expect(ann.get_by_role("heading", level=1)).to_contain_text("Incident 4")
    await ann.get_by_role("link", name="Open a case").click()
    quota = ann.locator("#quota")
    await expect(quota).to_contain_text("Your organisation has used all 4 incidents")
    await expect(quota).to_have_attribute("role", "alert")
    async with ann.expect_response("**/portal/cases/new") as answer:
        await fill("Incident 5")
    assert (await answer.value).status == 409
    error = ann.locator("#new-case-error")
    await expect(error).to_contain_text("Incident quota exhausted")
    await expect(error).to_contain_text("has used all 4 incidents")
    await expect(ann.get_by_label("Title")).to_have_value("Incident 5")
    await shot(ann, "portal-quota")
    listed = (await console.api.ann.get("/cases")).json()
    assert listed["total"] == 4


async def test_a_title_with_markup_shows_as_text(console: Console) -> None:
    title = "<script>document.title='owned'</script><img src=x id=injected>"
    number = await console.open_case(title)
    ann = await console.sign_in("ann")
    await expect(ann.locator(f"tr[data-number='{number}'] .title")).to_have_text(title)
    await ann.goto(f"/portal/cases/{number}")
    await expect(ann.locator("h1 .title")).to_have_text(title)
    assert await ann.locator("#injected").count() == 0
    assert "owned" not in await ann.title()


async def test_a_form_posted_from_another_site_is_refused(console: Console) -> None:
    number = await console.open_case()
    page = await console.sign_in("ann")
    target = f"{console.base_url}/portal/cases/{number}/reply"
    evil = (
        "<!doctype html><form id=f method=post action='" + target + "'>"
        "<input name=message value='planted'></form>"
        "<script>document.getElementById('f').submit()</script>"
    ).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(evil)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        async with page.expect_response(target) as answer:
            await page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        assert (await answer.value).status == 403
        await expect(page.locator(".error")).to_contain_text("did not come from this site")
    finally:
        server.shutdown()
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e for e in timeline if e["kind"] == "customer_replied"] == []


async def test_releases_show_the_fixes_of_the_organisations_own_cases(console: Console) -> None:
    ours = await console.open_case("Totals off by one")
    theirs = await open_as(console, "gus", "globex", "Globex totals too")
    for number in (ours, theirs):
        escalated = await console.api.bob.post(
            f"/cases/{number}/escalate", json={"tier": 3, "reason": "needs a code change"}
        )
        assert escalated.status_code == 200, escalated.text
    rex = console.api.rex
    # Planned before the patch, shipped after it: the newest release is the one shipped last.
    other = await rex.post(
        "/releases", json={"version": "5.1.0", "kind": "major", "notes": "Exports in pages."}
    )
    assert other.status_code == 201
    planned = await rex.post(
        "/releases", json={"version": "5.0.1", "kind": "patch", "notes": "Totals <b>fixed</b>."}
    )
    assert planned.status_code == 201, planned.text
    for number in (ours, theirs):
        assert (await rex.put(f"/releases/5.0.1/cases/{number}")).status_code == 200
    for step in ("start", "ship"):
        assert (await rex.post(f"/releases/5.0.1/{step}")).status_code == 200
    for step in ("start", "ship"):
        assert (await rex.post(f"/releases/5.1.0/{step}")).status_code == 200

    ann = await console.sign_in("ann")
    await ann.get_by_role("link", name="Releases").click()
    fix = ann.locator("#fixes .release[data-version='5.0.1']")
    await expect(fix).to_contain_text("Patch 5.0.1")
    await expect(fix).to_contain_text(f"#{ours} Totals off by one")
    await expect(fix.locator(".notes")).to_have_text("Totals <b>fixed</b>.")
    await expect(fix).not_to_contain_text(f"#{theirs}")
    await expect(ann.locator("#fixes")).not_to_contain_text("5.1.0")
    newest = ann.locator("#newest .release")
    await expect(newest).to_have_count(2)
    assert [await r.get_attribute("data-version") for r in await newest.all()] == [
        "5.1.0",
        "5.0.1",
    ]
    await expect(newest.nth(0)).to_contain_text("Major 5.1.0")
    await expect(newest.nth(0).locator(".notes")).to_have_text("Exports in pages.")
    await shot(ann, "portal-releases")


async def test_files_the_email_door_would_refuse_are_refused_beside_the_form(
    console: Console,
) -> None:
    number = await console.open_case("Installer fails")
    ann = await console.sign_in("ann")
    await ann.goto(f"/portal/cases/{number}")
    disguised = ("setup.png", "image/png", b"MZ\x90\x00\x03" + b"\x00" * 64)
    async with ann.expect_response(f"**/portal/cases/{number}/reply") as answer:
        await reply(
            ann,
            "Here is the installer.",
            (disguised, ("logs.rar", "application/vnd.rar", b"Rar!\x1a\x07\x00")),
        )
    assert (await answer.value).status == 422
    error = ann.locator("#error-reply")
    await expect(error).to_contain_text(
        '"setup.png" is declared as image/png but its content is '
        "application/vnd.microsoft.portable-executable"
    )
    await expect(error).to_contain_text('"logs.rar": the type application/vnd.rar is not accepted')
    await expect(ann.get_by_label("Your reply")).to_have_value("Here is the installer.")
    await shot(ann, "portal-file-refused")
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e for e in timeline if e["kind"] == "customer_replied"] == []
    assert (await console.api.bob.get(f"/cases/{number}/attachments")).json() == []


async def test_a_double_submitted_new_case_opens_one_case_with_its_files_once(
    console: Console,
) -> None:
    ann = await console.sign_in("ann")
    await ann.goto("/portal/cases/new")
    form = ann.locator("form.new-case")
    fields: dict[str, bytes | bool | float | str | FilePayload] = {
        "csrf_token": await form.locator("input[name='csrf_token']").input_value(),
        "idempotency_key": await form.locator("input[name='idempotency_key']").input_value(),
        "company_name": "Acme Corp",
        "contact_name": "Ann Customer",
        "contact_email": "ann@acme.example",
        "title": "Sent twice",
        "details": "A double click.",
        "severity": "normal",
        "attachments": FilePayload(name="trace.txt", mimeType="text/plain", buffer=b"trace"),
    }
    opened = []
    for _ in range(2):
        sent = await ann.request.post(
            "/portal/cases/new", multipart=fields, headers={"Origin": console.base_url}
        )
        assert sent.ok
        opened.append(sent.url)
    assert opened[0] == opened[1]
    listed = (await console.api.ann.get("/cases")).json()
    assert [c["title"] for c in listed["items"]] == ["Sent twice"]
    number = listed["items"][0]["number"]
    files = (await console.api.ann.get(f"/cases/{number}/attachments")).json()
    assert [f["filename"] for f in files] == ["trace.txt"]


async def test_the_portal_needs_a_session_and_sends_the_consoles_headers(console: Console) -> None:
    for path in (
        "/portal",
        "/portal/cases/new",
        "/portal/notices",
        "/portal/releases",
        "/portal/kb/suggest?q=exports",
    ):
        answer = await console.api.anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/sign-in?next=")
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    # The knowledge base's public part is for anyone, with the same headers.
    public = await console.api.anonymous.get("/portal/kb")
    assert public.status_code == 200
    assert "default-src 'none'" in public.headers["content-security-policy"]
    ann = await console.sign_in("ann")
    response = await ann.goto("/portal/notices")
    assert response is not None and response.status == 200
    headers = await response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    # Signing out from the portal ends the session.
    await ann.get_by_role("button", name="Sign out").click()
    await expect(ann).to_have_url(re.compile(r"/console/sign-in$"))
    await ann.goto("/portal")
    await expect(ann).to_have_url(re.compile(r"/console/sign-in\?next="))


async def test_odd_input_is_a_clear_refusal_never_a_500(console: Console) -> None:
    """What the review found: a file where the title belongs, a number in another script,
    a file named in another script, and a body larger than anything needs."""
    ann = await console.sign_in("ann")
    await ann.goto("/portal/cases/new")
    form = ann.locator("form.new-case")
    token = await form.locator("input[name='csrf_token']").input_value()
    title_as_file = await ann.request.post(
        "/portal/cases/new",
        multipart={
            "csrf_token": token,
            "title": FilePayload(name="t.txt", mimeType="text/plain", buffer=b"x"),
            "details": "d",
            "severity": "normal",
        },
        headers={"Origin": console.base_url},
    )
    assert title_as_file.status == 422
    for path in ("/portal/kb/²", "/console/kb/²"):
        page = await console.sign_in("ann" if path.startswith("/portal") else "bob")
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
    assert (await console.api.anonymous.get("/kb/articles/²")).status_code == 404

    # A file named in another script downloads under its own name.
    number = await open_as(console, "ann", "acme", "Report attached")
    await ann.goto(f"/portal/cases/{number}")
    await reply(ann, "The report", (("报告.pdf", "application/pdf", b"%PDF-1.4 report"),))
    await expect(ann.locator("main")).to_contain_text("报告.pdf")
    files = (await console.api.ann.get(f"/cases/{number}/attachments")).json()
    download = await console.api.ann.get(f"/cases/{number}/attachments/{files[0]['id']}")
    assert download.status_code == 200
    assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf" in download.headers["content-disposition"]

    too_large = await console.api.ann.post(
        "/cases",
        content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_large.status_code == 413
    assert too_large.json()["title"] == "Request too large"


def test_link_tokens_stay_out_of_access_logs() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/console/welcome?token=SECRET&x=1", "1.1", 200),
        None,
    )
    RedactLinkTokens().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/console/welcome?token=[redacted]&x=1" in record.getMessage()
