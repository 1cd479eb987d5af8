"""The README's console walkthrough on a real `tierline run`: open the printed address,
sign in as admin with the printed first-login password, and work a case from opening to
closing without the terminal."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from tests.cli.test_stack import Stack, stack  # noqa: F401
from tests.web.conftest import shot


async def test_a_new_user_works_a_case_in_the_console_of_make_run(
    stack: Stack,  # noqa: F811
    browser: Browser,
) -> None:
    log = stack.log()
    address = re.search(r"console\s+(http://\S+/console)", log)
    password = re.search(r"admin password\s+(\S+)\s+\(first login", log)
    assert address and password, log
    assert password.group(1) == (stack.var_dir / "admin-password").read_text().strip()
    with stack.admin() as admin:  # what the README's curl walkthrough made before
        created = admin.post(
            "/organisations",
            json={"id": "acme", "name": "Acme Corp", "plan": "us-software-002:enterprise"},
        )
        assert created.status_code == 201, created.text

    context = await browser.new_context()
    try:
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await page.goto(address.group(1))
        await expect(page).to_have_url(re.compile(r"/console/sign-in"))
        await page.get_by_label("User name").fill("admin")
        await page.get_by_label("Password").fill(password.group(1))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(re.compile(r"/console/queues/1$"))

        await page.get_by_role("link", name="New case").click()
        await page.get_by_label("Organisation").select_option("acme")
        await page.get_by_role("button", name="Choose").click()
        await page.get_by_label("Contact name").fill("Ann")
        await page.get_by_label("Contact e-mail").fill("ann@acme.example")
        await page.get_by_label("Title").fill("Exports time out")
        await page.get_by_label("Details").fill("Every export over 1,000 rows fails.")
        await page.get_by_label("High Priority").check()
        await page.get_by_role("button", name="Open the case").click()
        await expect(page.locator("#timeline")).to_contain_text("opened")

        await page.get_by_label("What the customer reads").fill("We are on it.")
        await page.get_by_role("button", name="Respond").click()
        await expect(page.locator("#timeline .event.responded")).to_have_count(1)
        await page.get_by_label("What fixed it").fill("Export paging fixed.")
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator("#case-status")).to_have_text("resolved")
        await page.locator("#action-close").get_by_label(re.compile("^Why")).fill("Confirmed.")
        await page.get_by_role("button", name="Close").click()
        await expect(page.locator("#case-status")).to_have_text("closed")
        await shot(page, "readme-case-closed")
    finally:
        await context.close()
