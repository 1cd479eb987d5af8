"""The console in real Chromium: sign in, queues, a case, live updates, refusals."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Page, expect

from api.actions import ACTIONS
from api.auth import Principal
from models.case import CaseView, Role
from models.registry import BY_ROUTE, may_send
from tests.mail.conftest import MailDoor, gateway, mail  # noqa: F401
from tests.web.conftest import Console, shot
from web.console import queues
from web.console.cases import offered
from web.render import iso, label
from web.sessions import WebPrincipal


async def test_an_agent_signs_in_and_sees_a_case_opened_through_the_api(console: Console) -> None:
    number = await console.open_case("Exports hang at 99 %")
    signing_in = await console.page()
    await signing_in.goto("/console/sign-in")
    await expect(signing_in.get_by_label("User name")).to_be_visible()
    await shot(signing_in, "sign-in")
    page = await console.sign_in("bob")
    await expect(page).to_have_url(f"{console.base_url}/console/queues/1")
    row = page.locator(f"tr[data-number='{number}']")
    await expect(row).to_contain_text("Exports hang at 99 %")
    await expect(row.locator(".clock[data-clock='first_response']")).to_be_visible()
    await shot(page, "queue")
    await row.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{number}")
    await expect(page.locator("#timeline")).to_contain_text("opened")
    await shot(page, "case")


async def test_a_second_screen_sees_an_action_without_reloading(console: Console) -> None:
    number = await console.open_case("Login loops")
    first = await console.sign_in("bob")
    second = await console.sign_in("bob")
    queue = await console.sign_in("admin")
    await second.goto(f"/console/cases/{number}")
    await queue.goto("/console/queues/1")
    for page in (second, queue):
        await expect(page.locator("body[data-live-connected='yes']")).to_have_count(1)
        await page.evaluate("window.notReloaded = true")
    await first.goto(f"/console/cases/{number}")
    await first.get_by_label("What the customer reads").fill("We are looking into it.")
    await first.get_by_role("button", name="Respond").click()
    await expect(first.locator("#timeline")).to_contain_text("We are looking into it.")
    # The other screens change by themselves: no reload (the marker survives).
    await expect(second.locator("#timeline")).to_contain_text("We are looking into it.")
    await expect(second.locator("#timeline .event.responded")).to_have_count(1)
    assign = await console.api.bob.post(f"/cases/{number}/assign", json={"assignee": "bob"})
    assert assign.status_code == 200
    await expect(queue.locator(f"tr[data-number='{number}']")).to_contain_text("bob")
    for page in (second, queue):
        assert await page.evaluate("window.notReloaded") is True
    await shot(second, "case-live")


async def test_a_customers_mail_reaches_the_open_screens_of_agent_and_customer(
    console: Console,
    gateway: MailDoor,  # noqa: F811 (the mail tests' fixture)
) -> None:
    """The e-mail door goes through the same read model as the screens: a reply by mail
    (real SMTP into the gateway) shows on the agent's case page and on the customer's
    portal page, neither reloaded."""
    number = await console.open_case("Exports hang")
    bob = await console.sign_in("bob")
    await bob.goto(f"/console/cases/{number}")
    ann = await console.sign_in("ann")
    await ann.goto(f"/portal/cases/{number}")
    for page in (bob, ann):
        await expect(page.locator("body[data-live-connected='yes']")).to_have_count(1)
        await page.evaluate("window.notReloaded = true")
    reply = mail(
        f"Re: [Case #{number}] Exports hang",
        "It hangs at 80 % <b>every</b> time.",
        sender="Ann <ann@acme.example>",
        message_id=f"<reply-{number}@acme.example>",
    )
    await asyncio.to_thread(gateway.send, reply, "ann@acme.example")
    for page in (bob, ann):
        entry = page.locator("#timeline .event.customer_replied")
        await expect(entry).to_have_count(1)
        # The mail's words, as text: its markup is not markup on the page.
        await expect(entry).to_contain_text("It hangs at 80 % <b>every</b> time.")
        assert await page.evaluate("window.notReloaded") is True
    await shot(bob, "case-mail-reply")


async def test_a_queue_fetches_its_rows_only_for_changes_that_can_alter_them(
    console: Console,
) -> None:
    """A case leaving the tier (it was on screen) and a case changing in the tier refresh
    the tier's queue; a change in another tier fetches nothing."""
    here = await console.open_case("Stays in tier 1")
    away = await console.open_case("Goes to tier 2")
    queue = await console.sign_in("bob")
    await queue.goto("/console/queues/1")
    await expect(queue.locator("body[data-live-connected='yes']")).to_have_count(1)
    fetched: list[tuple[float, str]] = []
    queue.on(
        "request",
        lambda request: (
            fetched.append((time.monotonic(), request.url)) if "part=rows" in request.url else None
        ),
    )
    escalated = await console.api.bob.post(
        f"/cases/{away}/escalate", json={"tier": 2, "reason": "Needs the product team"}
    )
    assert escalated.status_code == 200, escalated.text
    await expect(queue.locator(f"tr[data-number='{away}']")).to_have_count(0)
    # Another screen follows the tier-2 case: once it shows the note, the queue had its
    # event too, at the same moment, from the same feed.
    other = await console.sign_in("bob")
    await other.goto(f"/console/cases/{away}")
    await expect(other.locator("body[data-live-connected='yes']")).to_have_count(1)
    quiet_from = time.monotonic()
    noted = await console.api.bob.post(f"/cases/{away}/notes", json={"note": "Tier 2 only"})
    assert noted.status_code == 200, noted.text
    await expect(other.locator("#timeline")).to_contain_text("Tier 2 only")
    quiet_until = time.monotonic()
    assigned = await console.api.bob.post(f"/cases/{here}/assign", json={"assignee": "bob"})
    assert assigned.status_code == 200, assigned.text
    await expect(queue.locator(f"tr[data-number='{here}']")).to_contain_text("bob")
    assert [url for at, url in fetched if quiet_from <= at <= quiet_until] == []
    assert [url for at, url in fetched if at > quiet_until]
    assert [url for at, url in fetched if at < quiet_from]  # the escalated case left


async def test_a_countdown_turns_amber_then_red_as_the_clock_runs_out(console: Console) -> None:
    # Initech's plan (countdown:twenty) promises a first response in 20 s: the warning
    # comes at 75 % (15 s), the breach at 20 s. The case opens while the queue is on screen.
    page = await console.sign_in("bob")
    await expect(page.locator("body[data-live-connected='yes']")).to_have_count(1)
    number = await console.open_case("Printer on fire", organisation="initech")
    clock = page.locator(f"tr[data-number='{number}'] .clock[data-clock='first_response']")
    await expect(clock).to_have_class(re.compile(r"\bok\b"))
    await expect(clock).to_have_class(re.compile(r"\bwarned\b"), timeout=30_000)
    await shot(page, "queue-amber")
    await expect(clock).to_have_class(re.compile(r"\bbreached\b"), timeout=30_000)
    # The breach is the workflow's, not only the page's own countdown: the row says so.
    await expect(clock).to_have_attribute("data-level", "breached", timeout=10_000)
    await shot(page, "queue-red")
    # The breach is in the read model: the queue's filter finds it, and only it.
    calm = await console.open_case("Printer fine")
    for choice, listed, absent in (("yes", number, calm), ("no", calm, number)):
        await page.get_by_label("Breached").select_option(choice)
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator(f"tr[data-number='{listed}']")).to_have_count(1)
        await expect(page.locator(f"tr[data-number='{absent}']")).to_have_count(0)


async def test_a_refused_action_shows_the_workflows_reason(console: Console) -> None:
    number = await console.open_case()
    page = await console.sign_in("bob")
    await page.goto(f"/console/cases/{number}")
    # Meanwhile someone resolves the case; this screen's forms are the old ones.
    resolved = await console.api.bob.post(f"/cases/{number}/resolve", json={"summary": "Fixed"})
    assert resolved.status_code == 200
    await expect(page.locator("#case-status")).to_have_text("resolved")
    await page.get_by_label("What the customer reads").fill("One more thing")
    async with page.expect_response(f"**/console/cases/{number}/respond") as answer:
        await page.get_by_role("button", name="Respond").click()
    assert (await answer.value).status == 409
    await expect(page.locator("#error-respond")).to_have_text(
        "the case is resolved: reopen it first"
    )
    # What was typed is kept, and the page now offers what a resolved case allows.
    await expect(page.get_by_label("What the customer reads")).to_have_value("One more thing")
    await expect(page.locator("#action-close")).to_have_count(1)
    await shot(page, "case-refused")


async def test_a_title_with_markup_shows_as_text(console: Console) -> None:
    title = "<script>document.title='owned'</script><img src=x id=injected>"
    number = await console.open_case(title)
    page = await console.sign_in("bob")
    row = page.locator(f"tr[data-number='{number}']")
    await expect(row.locator(".title")).to_have_text(title)
    await page.goto(f"/console/cases/{number}")
    await expect(page.locator("h1 .title")).to_have_text(title)
    assert await page.locator("#injected").count() == 0
    assert "owned" not in await page.title()
    await shot(page, "case-markup-title")


async def test_customers_and_auditors_are_refused_where_they_may_not_go(
    console: Console,
) -> None:
    number = await console.open_case()
    customer = await console.sign_in("ann")
    # Customers land on the portal; the console's pages refuse them.
    await expect(customer).to_have_url(f"{console.base_url}/portal")
    for path in ("/console/queues/1", f"/console/cases/{number}"):
        response = await customer.goto(path)
        assert response is not None and response.status == 403
        await expect(customer.locator(".error")).to_contain_text(
            "a customer may not open this page"
        )
    await shot(customer, "refused-customer")

    auditor = await console.sign_in("ada")
    await auditor.goto(f"/console/cases/{number}")
    await expect(auditor.locator("form.action")).to_have_count(0)
    await expect(auditor.locator(".actions")).to_contain_text("Auditors read cases")
    # A form sent anyway, with the auditor's own valid CSRF token, is refused.
    token = await auditor.locator("input[name='csrf_token']").first.input_value()
    sent = await auditor.request.post(
        f"/console/cases/{number}/notes",
        form={"csrf_token": token, "note": "auditors do not write"},
        headers={"Origin": console.base_url},
    )
    assert sent.status == 403
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e for e in timeline if e["kind"] == "note_added"] == []


async def test_a_form_posted_from_another_site_is_refused(console: Console) -> None:
    number = await console.open_case()
    page = await console.sign_in("bob")
    target = f"{console.base_url}/console/cases/{number}/notes"
    evil = (
        "<!doctype html><form id=f method=post action='" + target + "'>"
        "<input name=note value='planted'></form>"
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
            # Same site (cookies go along, SameSite=Lax notwithstanding), other origin.
            await page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        assert (await answer.value).status == 403
        await expect(page.locator(".error")).to_contain_text("did not come from this site")
    finally:
        server.shutdown()
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e for e in timeline if e["kind"] == "note_added"] == []


async def test_a_double_submitted_form_acts_once(console: Console) -> None:
    number = await console.open_case()
    page = await console.sign_in("bob")
    await page.goto(f"/console/cases/{number}")
    form = page.locator("#action-notes")
    fields: dict[str, str | float | bool] = {
        "csrf_token": await form.locator("input[name='csrf_token']").input_value(),
        "idempotency_key": await form.locator("input[name='idempotency_key']").input_value(),
        "note": "Checked the logs",
    }
    for _ in range(2):  # what a double click sends when the browser lets it through
        sent = await page.request.post(
            f"/console/cases/{number}/notes", form=fields, headers={"Origin": console.base_url}
        )
        assert sent.ok
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e["reason"] for e in timeline if e["kind"] == "note_added"] == ["Checked the logs"]


async def test_the_keyboard_alone_works_a_queue(console: Console) -> None:
    first = await console.open_case("First by due")
    second = await console.open_case("Second by due")
    page = await console.sign_in("bob")
    await expect(page.locator("tr[data-number]")).to_have_count(2)
    await page.keyboard.press("j")
    await expect(page.locator(f"tr[data-number='{first}']")).to_be_focused()
    await page.keyboard.press("j")
    await expect(page.locator(f"tr[data-number='{second}']")).to_be_focused()
    await page.keyboard.press("k")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{console.base_url}/console/cases/{first}")
    await page.keyboard.press("r")
    await expect(page.get_by_label("What the customer reads")).to_be_focused()
    await page.keyboard.type("Answered from the keyboard")
    await page.keyboard.press("Tab")  # the optional article
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Respond")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#timeline")).to_contain_text("Answered from the keyboard")
    await page.goto("/console/queues/1")
    await page.keyboard.press("/")
    await expect(page.get_by_label("Search")).to_be_focused()
    await page.keyboard.type("Second")
    await page.keyboard.press("Enter")
    await expect(page.locator("tr[data-number]")).to_have_count(1)
    await expect(page.locator(f"tr[data-number='{second}']")).to_have_count(1)


async def test_a_case_is_worked_from_opening_to_closing_in_the_console(console: Console) -> None:
    page = await console.sign_in("bob")
    await page.get_by_role("link", name="New case").click()
    await page.get_by_label("Organisation").select_option("acme")
    await page.get_by_role("button", name="Choose").click()
    # The plan's own severity definitions stand beside the choice.
    await expect(page.locator("fieldset")).to_contain_text("Critical")
    await page.get_by_label("Contact name").fill("Ann Customer")
    await page.get_by_label("Contact e-mail").fill("ann@acme.example")
    await page.get_by_label("Title").fill("Invoices show the wrong VAT")
    await page.get_by_label("Details").fill("Since the 1st, VAT is 19 % on every line.")
    await page.get_by_label("Normal").check()
    await shot(page, "new-case")
    await page.get_by_role("button", name="Open the case").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Invoices show the wrong VAT"
    )
    number = int(page.url.rsplit("/", 1)[1])
    await expect(page.locator(".details")).to_contain_text("phone")

    await page.get_by_label("What the customer reads").fill("We reproduced it; a fix is coming.")
    await page.get_by_role("button", name="Respond").click()
    await expect(page.locator("#timeline .event.responded")).to_have_count(1)
    await page.get_by_label("What fixed it").fill("Tax table corrected.")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#case-status")).to_have_text("resolved")
    await (
        page.locator("#action-close")
        .get_by_label("Why; recorded in the case history")
        .fill("Customer confirmed by phone.")
    )
    await page.get_by_role("button", name="Close").click()
    await expect(page.locator("#case-status")).to_have_text("closed")
    await shot(page, "case-closed")
    case = (await console.api.bob.get(f"/cases/{number}")).json()
    assert case["status"] == "closed"
    assert case["details"]["channel"] == "phone"
    assert case["opened_by"] == {"id": "bob", "role": "agent"}


async def act(page: Page, route: str, **values: str) -> None:
    """Fill the action's form as a user would (each text box, the first choice of each
    list, unless `values` says otherwise), send it, and check it went through."""
    form = page.locator(f"#action-{route}")
    await expect(form).to_have_count(1)
    for field in await form.locator("textarea, input:not([type=hidden]), select").all():
        name = await field.get_attribute("name") or ""
        tag = await field.evaluate("e => e.tagName")
        if tag == "SELECT":
            if name in values:
                await field.select_option(values[name])
        elif name in values:
            await field.fill(values[name])
        elif await field.get_attribute("required") is not None and not await field.input_value():
            await field.fill(f"{route}: {name} typed in the console")
    async with page.expect_response(f"**/console/cases/*/{route}") as answer:
        await form.get_by_role("button").click()
    response = await answer.value
    assert response.status == 303, f"{route}: {response.status} {await page.content()}"
    await page.wait_for_load_state()
    assert await page.locator(f"#error-{route}").count() == 0


async def test_every_agent_action_goes_through_its_form(console: Console) -> None:
    """Every action an agent may take, each through its own form in the browser: a tier
    choice, a severity, an exclusion and free text arrive as the API would take them."""
    number = await console.open_case("Every action")
    page = await console.sign_in("bob")
    await page.goto(f"/console/cases/{number}")
    done: list[str] = []

    async def step(route: str, status: str | None = None, **values: str) -> None:
        await act(page, route, **values)
        done.append(route)
        if status is not None:
            await expect(page.locator("#case-status")).to_have_attribute("data-status", status)

    await step("assign")
    await step("notes")
    await step("request-information", "waiting_on_customer")
    replied = await console.api.ann.post(
        f"/cases/{number}/reply", json={"message": "Here are the logs."}
    )
    assert replied.status_code == 200, replied.text
    await page.reload()
    await step("respond")
    await step("severity", severity="critical")
    await step("management-escalation")
    await step("escalate", "tier2", tier="2")
    await expect(page.locator(".crumbs")).to_contain_text("Tier 2 queue")
    await step("escalate", "tier3", tier="3")
    # Bob works tiers 1 and 2: tier 3 is Tia's.
    await expect(page.locator(".actions")).to_contain_text(
        "This case is in tier 3; you work tiers 1, 2."
    )
    page = await console.sign_in("tia")
    await page.goto(f"/console/cases/{number}")
    # Critical on this plan: the resolution owes a root-cause analysis.
    rca = "A rounding rule applied per line instead of per invoice."
    await step("resolve", "resolved", root_cause_analysis=rca)
    await step("reopen")
    await step("resolve", "resolved", root_cause_analysis=rca)
    await step("close", "closed")
    other = await console.open_case("Their printer driver")
    page = await console.sign_in("bob")
    await page.goto(f"/console/cases/{other}")
    await step("close-out-of-scope", "closed_out_of_scope", exclusion="third-party")
    await shot(page, "case-out-of-scope")

    may_take = {spec.route for spec in ACTIONS if may_send(Role.agent, spec)}
    assert may_take == set(done), may_take ^ set(done)
    case = (await console.api.bob.get(f"/cases/{number}")).json()
    assert (case["status"], case["tier"], case["severity"]) == ("closed", 3, "critical")
    assert case["escalation_level"] == 1
    kinds = [e["kind"] for e in (await console.api.bob.get(f"/cases/{number}/timeline")).json()]
    assert kinds.count("tier_escalated") == 2 and "management_escalated" in kinds


async def test_management_escalation_and_reopening_are_offered_only_where_the_plan_has_them(
    console: Console,
) -> None:
    """Acme's plan (short-sla:fast) has a chain and a reopen window, Initech's
    (countdown:twenty) neither: no form is shown where the workflow would refuse it."""
    without = await console.open_case("No chain here", organisation="initech")
    page = await console.sign_in("bob")
    await page.goto(f"/console/cases/{without}")
    await expect(page.locator("#action-respond")).to_have_count(1)
    await expect(page.locator("#action-management-escalation")).to_have_count(0)
    with_chain = await console.open_case("A chain here")
    await page.goto(f"/console/cases/{with_chain}")
    await expect(page.locator("#action-management-escalation")).to_have_count(1)
    for number, forms in ((without, 0), (with_chain, 1)):
        for action, body in (("resolve", {"summary": "Done"}), ("close", {"reason": "Done"})):
            done = await console.api.bob.post(f"/cases/{number}/{action}", json=body)
            assert done.status_code == 200, done.text
        await page.goto(f"/console/cases/{number}")
        await expect(page.locator("#case-status")).to_have_attribute("data-status", "closed")
        await expect(page.locator("#action-reopen")).to_have_count(forms)
        # The window's end is shown where there is one, as the workflow worked it out.
        until = (await console.api.bob.get(f"/cases/{number}")).json()["reopen_until"]
        assert (until is not None) == bool(forms), until
        shown = page.locator("#reopen-until time")
        await expect(shown).to_have_count(forms)
        if until is not None:
            await expect(shown).to_have_attribute("datetime", iso(datetime.fromisoformat(until)))


async def test_reopening_is_no_longer_offered_once_the_window_has_ended(
    console: Console,
) -> None:
    number = await console.open_case("Closed a while ago")
    for action, body in (("resolve", {"summary": "Done"}), ("close", {"reason": "Done"})):
        assert (await console.api.bob.post(f"/cases/{number}/{action}", json=body)).is_success
    view = CaseView.model_validate((await console.api.bob.get(f"/cases/{number}")).json())
    assert view.reopen_until is not None and view.closed_at is not None
    assert view.reopen_until > view.closed_at  # the fast plan's hour
    ann = WebPrincipal(
        Principal(id="ann", role=Role.customer, organisation="acme"), "Ann", "csrf", "digest"
    )
    reopen = BY_ROUTE["reopen"]
    # The plan is not consulted: the view's own deadline decides, to the second.
    assert reopen in offered(ann, view, None, now=view.reopen_until)
    assert reopen not in offered(ann, view, None, now=view.reopen_until + timedelta(seconds=1))


async def test_the_queue_filters_and_pages(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Organisation, severity and assignee choose the rows, and pages follow the filter
    (two rows a page here)."""
    monkeypatch.setattr(queues, "PAGE_SIZE", 2)
    acme = [await console.open_case(f"Acme {n}") for n in range(3)]
    initech = await console.open_case("Initech 1", organisation="initech")
    critical = acme[0]
    assert (
        await console.api.bob.post(
            f"/cases/{critical}/severity", json={"severity": "critical", "reason": "Outage"}
        )
    ).status_code == 200
    assert (
        await console.api.bob.post(f"/cases/{acme[1]}/assign", json={"assignee": "bob"})
    ).status_code == 200
    page = await console.sign_in("bob")

    async def listed() -> set[int]:
        await expect(page.locator("#queue-rows")).to_be_visible()
        numbers = await page.locator("#queue-rows tr[data-number]").evaluate_all(
            "rows => rows.map(r => Number(r.dataset.number))"
        )
        return set(numbers)

    async def only(**chosen: str) -> set[int]:
        await page.goto("/console/queues/1")
        for name, value in chosen.items():
            await page.get_by_label(name).select_option(value)
        await page.get_by_role("button", name="Filter").click()
        await page.wait_for_load_state()
        return await listed()

    assert await only(Organisation="initech") == {initech}
    assert await only(Severity="critical") == {critical}
    # `critical` is "Critical" in Acme's catalog (short-sla) and "Critical Technical
    # Support" in a seed's: the row names it as its case's catalog does, the filter both.
    await expect(page.locator(f"tr[data-number='{critical}'] td[data-severity]")).to_have_text(
        "Critical"
    )
    await expect(page.get_by_label("Severity").locator("option[value='critical']")).to_have_text(
        "critical (Critical / Critical Technical Support)"
    )
    assert await only(Assignee="bob") == {acme[1]}
    assert await only(Organisation="acme", Severity="critical") == {critical}
    # Acme's three open cases, two a page: Next, then Previous, the filter kept.
    first = await only(Organisation="acme")
    await expect(page.locator(".pager")).to_contain_text("Showing 1\u20132 of 3")
    await page.get_by_role("link", name="Next").click()
    second = await listed()
    await expect(page.locator(".pager")).to_contain_text("Showing 3\u20133 of 3")
    assert first | second == set(acme) and not first & second
    await shot(page, "queue-filtered-page-2")
    await page.get_by_role("link", name="Previous").click()
    assert await listed() == first


async def test_the_case_page_shows_every_clock_in_utc_and_the_plans_time(
    console: Console,
) -> None:
    """Each clock's row: its state, target, due in UTC and in the plan's calendar's time
    while it runs, elapsed and remaining, as the API reports it; paused while the customer
    is asked."""
    number = await console.open_case("Clock details")
    page = await console.sign_in("bob")
    table = page.locator(".clock-table")

    async def rows_match() -> dict[str, Any]:
        case = (await console.api.bob.get(f"/cases/{number}")).json()
        clocks: dict[str, Any] = {c["name"]: c for c in case["clocks"]}
        await page.goto(f"/console/cases/{number}")
        for name, clock in clocks.items():
            row = table.locator("tbody tr").filter(
                has=page.get_by_role("rowheader", name=label(name))
            )
            await expect(row).to_have_count(1)
            cells = row.locator("td")
            state = "no target" if clock["target"] == "unset" else clock["state"]
            await expect(cells.nth(0)).to_contain_text(state)
            if clock["due_at"] is not None:
                due = datetime.fromisoformat(clock["due_at"]).astimezone(UTC)
                await expect(cells.nth(2)).to_have_text(due.strftime("%Y-%m-%d %H:%M:%S UTC"))
                # Acme's plan keeps a UTC calendar: the same minute, worded for people.
                await expect(cells.nth(3)).to_have_text(due.strftime("%a %d %b %Y, %H:%M UTC"))
        return clocks

    running = await rows_match()
    assert [name for name, c in running.items() if c["due_at"] is not None], running
    # Targets in words, as the plan's `normal` severity sets them (PT40M, PT2H, 8 hours,
    # PT1H in tests/catalogs/short-sla.yaml).
    for name, words in (
        ("first_response", "40 minutes"),
        ("periodic_update", "2 hours"),
        ("resolution", "8 hours"),
        ("tier1", "1 hour"),
    ):
        row = table.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=label(name)))
        await expect(row.locator("td").nth(1)).to_have_text(words)
    await shot(page, "case-clocks-running")
    asked = await console.api.bob.post(
        f"/cases/{number}/request-information", json={"message": "Which browser?"}
    )
    assert asked.status_code == 200, asked.text
    clocks = await rows_match()
    paused = [name for name, c in clocks.items() if c["state"] == "paused"]
    assert paused, clocks
    for name in paused:
        await expect(page.locator(f".clock[data-clock='{name}']")).to_contain_text("paused")
    await shot(page, "case-clocks-paused")
