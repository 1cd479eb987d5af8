"""The console in real Chromium: sign in, queues, a case, live updates, refusals."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import Console, shot


async def test_an_agent_signs_in_and_sees_a_case_opened_through_the_api(console: Console) -> None:
    number = await console.open_case("Exports hang at 99 %")
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
