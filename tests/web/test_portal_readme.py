"""The README's portal walkthrough on a real `tierline run`: the admin signs in to the
console with the printed password, creates the organisation and its customer, invites
her by e-mail and writes an article; the customer takes the mailed link (from the mail
catcher), chooses a password, finds the article, opens a case, replies, and confirms its
resolution. No API token anywhere."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from mail.catcher import Outbox
from tests.cli.test_stack import Stack, stack  # noqa: F401
from tests.web.conftest import shot

CUSTOMER_PASSWORD = "acme support passphrase"
LINK = re.compile(r"(http://\S+/console/welcome\?token=[A-Za-z0-9_-]+)")


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(20_000)
    return page


async def test_a_customer_invited_from_the_console_works_a_case_in_the_portal(
    stack: Stack,  # noqa: F811
    browser: Browser,
) -> None:
    log = stack.log()
    address = re.search(r"console\s+(http://\S+/console)", log)
    password = re.search(r"admin password\s+(\S+)\s+\(first login", log)
    assert address and password, log

    admin = await new_page(browser)
    await admin.goto(address.group(1))
    await admin.get_by_label("User name").fill("admin")
    await admin.get_by_label("Password").fill(password.group(1))
    await admin.get_by_role("button", name="Sign in").click()

    # Admin: the organisation, its customer, the invitation.
    await admin.get_by_role("link", name="Admin").click()
    await admin.get_by_label("ID").fill("acme")
    await admin.get_by_label("Name", exact=True).fill("Acme Corp")
    await admin.get_by_label("Plan").select_option("us-software-002:enterprise")
    await admin.get_by_role("button", name="Create organisation").click()
    await admin.locator("#user-id").fill("ann")
    await admin.get_by_label("Full name").fill("Ann Example")
    await admin.locator("#user-email").fill("ann@acme.example")
    await admin.locator("#user-role").select_option("customer")
    await admin.locator("#user-organisation").select_option("acme")
    await admin.get_by_role("button", name="Create user").click()
    await admin.get_by_role("button", name="Send invitation").click()
    await expect(admin.locator(".done")).to_contain_text("Invitation sent by e-mail")

    # An agent's article for customers.
    await admin.goto(address.group(1) + "/kb/new")
    await admin.get_by_label("Title").fill("Exports time out over 1,000 rows")
    await admin.locator("#body").fill("Export in pages of 500 rows.")
    await admin.locator("#category").fill("exports")
    await admin.get_by_label("Customers", exact=True).check()
    await admin.get_by_role("button", name="Save the draft").click()
    await admin.get_by_role("button", name="Publish").first.click()
    await expect(admin.locator("body")).to_contain_text("published")

    # The customer: the mailed link (caught by make run's mail catcher), a password.
    caught = Outbox(stack.var_dir / "mail" / "outbox").messages()
    invitations = [m for m in caught if "ann@acme.example" in m.message()["To"]]
    assert invitations, [m.message()["To"] for m in caught]
    body = invitations[-1].message().get_body(("plain",))
    assert body is not None
    link = LINK.search(body.get_content())
    assert link, body.get_content()
    ann = await new_page(browser)
    await ann.goto(link.group(1))
    await ann.get_by_label("New password", exact=True).fill(CUSTOMER_PASSWORD)
    await ann.get_by_label("Repeat the new password").fill(CUSTOMER_PASSWORD)
    await ann.get_by_role("button", name="Set password").click()
    await ann.get_by_role("link", name="Sign in").click()
    await ann.get_by_label("User name").fill("ann")
    await ann.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    await ann.get_by_role("button", name="Sign in").click()
    await expect(ann).to_have_url(re.compile(r"/portal$"))

    # She finds the article, then opens a case all the same.
    await ann.get_by_role("link", name="Knowledge base").click()
    await ann.get_by_label("Search the articles").fill("export timeout")
    await ann.get_by_role("button", name="Search").click()
    await expect(ann.locator("main")).to_contain_text("Exports time out over 1,000 rows")
    await ann.goto(re.sub(r"/console$", "/portal/cases/new", address.group(1)))
    await ann.get_by_label("Title").fill("Exports still time out")
    await ann.get_by_label("Details").fill("Even in pages of 500 rows.")
    await ann.get_by_label("High Priority").check()
    await ann.get_by_role("button", name="Open the case").click()
    await expect(ann).to_have_url(re.compile(r"/portal/cases/\d+$"))
    number = int(ann.url.rsplit("/", 1)[1])

    # Support answers in the console; she replies; support resolves; she confirms.
    await admin.goto(f"{address.group(1)}/cases/{number}")
    await admin.get_by_label("What the customer reads").fill("Which export, please?")
    await admin.get_by_role("button", name="Respond").click()
    await expect(ann.locator("main")).to_contain_text("Which export, please?")
    await ann.get_by_label("Your reply").fill("The monthly invoices.")
    await ann.get_by_role("button", name="Reply").click()
    await expect(admin.locator("#timeline")).to_contain_text("The monthly invoices.")
    await admin.get_by_label("What fixed it").fill("Invoice export paging fixed.")
    await admin.get_by_role("button", name="Resolve").click()
    await expect(ann.get_by_role("button", name="Confirm the resolution")).to_be_visible()
    await ann.get_by_role("button", name="Confirm the resolution").click()
    await expect(ann.locator("main")).to_contain_text("closed")
    await shot(ann, "readme-portal-confirmed")
