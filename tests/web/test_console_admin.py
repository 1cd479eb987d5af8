"""The admin pages in real Chromium: organisations, users, tokens and passwords, the API's
refusals next to each form, and nobody but admins."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.web.conftest import Console, shot

MARKUP = "<img src=x id=injected>"


async def admin_page(console: Console) -> Page:
    page = await console.sign_in("admin")
    await page.goto("/console/admin")
    return page


async def test_an_admin_creates_an_organisation_and_a_customer_of_it(console: Console) -> None:
    page = await admin_page(console)
    await expect(page.locator("#organisation-list tr[data-organisation='acme']")).to_contain_text(
        "short-sla:fast"
    )
    form = page.locator("#create-organisation")
    await form.get_by_label("ID").fill("hooli")
    await form.get_by_label("Name", exact=True).fill(f"Hooli {MARKUP}")
    await form.get_by_label("Plan").select_option("short-sla:fast")
    await form.get_by_label("Contact e-mails").fill("gavin@hooli.example\nrichard@hooli.example")
    await form.get_by_role("button", name="Create organisation").click()
    await expect(page).to_have_url(f"{console.base_url}/console/admin?created=hooli#organisations")
    await expect(page.locator(".done")).to_have_text("Created organisation hooli.")
    row = page.locator("#organisation-list tr[data-organisation='hooli']")
    await expect(row.locator(".name")).to_have_text(f"Hooli {MARKUP}")
    await expect(row).to_contain_text("gavin@hooli.example, richard@hooli.example")
    assert await page.locator("#injected").count() == 0
    await shot(page, "admin")

    form = page.locator("#create-user")
    await form.get_by_label("User name").fill("gavin")
    await form.get_by_label("Full name").fill("Gavin Belson")
    await form.get_by_label("Role").select_option("customer")
    await form.get_by_label("Organisation").select_option("hooli")
    await form.get_by_role("button", name="Create user").click()
    await expect(page).to_have_url(f"{console.base_url}/console/admin/users/gavin?done=created")
    await expect(page.locator("#user-details")).to_contain_text("hooli")
    await expect(page.locator("#password-state")).to_contain_text("none")
    await shot(page, "admin-user")

    organisation = (await console.api.admin.get("/organisations/hooli")).json()
    assert organisation["name"] == f"Hooli {MARKUP}"
    assert organisation["plan"] == "short-sla:fast"
    assert organisation["contact_emails"] == ["gavin@hooli.example", "richard@hooli.example"]
    users = {u["id"]: u for u in (await console.api.admin.get("/users")).json()}
    assert users["gavin"]["role"] == "customer" and users["gavin"]["organisation"] == "hooli"


async def test_an_agent_works_the_tiers_ticked(console: Console) -> None:
    page = await admin_page(console)
    form = page.locator("#create-user")
    await form.get_by_label("User name").fill("dinesh")
    await form.get_by_label("Full name").fill("Dinesh")
    await form.get_by_label("Role").select_option("agent")
    await form.get_by_label("Tier 2").check()
    await form.get_by_label("Tier 3").check()
    await form.get_by_role("button", name="Create user").click()
    await expect(page.locator("#user-details")).to_contain_text("2, 3")
    users = {u["id"]: u for u in (await console.api.admin.get("/users")).json()}
    assert users["dinesh"]["tiers"] == [2, 3]


async def test_refusals_show_next_to_their_form_and_keep_what_was_typed(
    console: Console,
) -> None:
    page = await admin_page(console)
    form = page.locator("#create-organisation")
    await form.get_by_label("ID").fill("acme")
    await form.get_by_label("Name", exact=True).fill("Another Acme")
    await form.get_by_label("Plan").select_option("short-sla:fast")
    async with page.expect_response("**/console/admin/organisations") as answer:
        await form.get_by_role("button", name="Create organisation").click()
    assert (await answer.value).status == 409
    await expect(page.locator("#error-organisation")).to_have_text(
        "organisation acme exists already"
    )
    form = page.locator("#create-organisation")
    await expect(form.get_by_label("Name", exact=True)).to_have_value("Another Acme")
    await expect(form.get_by_label("Plan")).to_have_value("short-sla:fast")
    await expect(page.locator("#error-user")).to_have_count(0)

    form = page.locator("#create-user")
    await form.get_by_label("User name").fill("al")
    await form.get_by_label("Full name").fill("Al")
    await form.get_by_label("Role").select_option("agent")
    async with page.expect_response("**/console/admin/users") as answer:
        await form.get_by_role("button", name="Create user").click()
    assert (await answer.value).status == 422
    await expect(page.locator("#error-user")).to_have_text(
        "Tiers: an agent works at least one tier: give 1, 2 and/or 3"
    )
    form = page.locator("#create-user")
    await expect(form.get_by_label("User name")).to_have_value("al")
    await expect(form.get_by_label("Role")).to_have_value("agent")
    await shot(page, "admin-refused")

    await form.get_by_label("Role").select_option("customer")
    async with page.expect_response("**/console/admin/users") as answer:
        await form.get_by_role("button", name="Create user").click()
    assert (await answer.value).status == 422
    await expect(page.locator("#error-user")).to_have_text(
        "Organisation: customers need one; other roles have none"
    )
    users = {u["id"] for u in (await console.api.admin.get("/users")).json()}
    assert "al" not in users


async def test_a_token_is_shown_once_works_and_stops_at_revocation(console: Console) -> None:
    bob = await console.sign_in("bob")
    page = await console.sign_in("admin")
    await page.goto("/console/admin/users/bob")
    await page.get_by_label("Label").fill(f"laptop {MARKUP}")
    async with page.expect_response("**/console/admin/users/bob/tokens") as answer:
        await page.get_by_role("button", name="Issue token").click()
    assert (await answer.value).status == 201
    token = await page.get_by_label("Bearer token").input_value()
    assert token.startswith("tl_")
    await shot(page, "admin-token")
    async with httpx.AsyncClient(
        base_url=console.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        assert (await client.get("/cases")).status_code == 200
        await page.get_by_role("link", name="Back to bob").click()
        listed = (await console.api.admin.get("/users/bob/tokens")).json()
        issued = next(t for t in listed if t["label"] == f"laptop {MARKUP}")
        row = page.locator(f"#token-list tr[data-token='{issued['id']}']")
        await expect(row.locator(".label")).to_have_text(f"laptop {MARKUP}")
        assert await page.locator("#injected").count() == 0
        # The token is nowhere on the user's page: only on the page that issued it.
        assert token not in await page.content()
        await row.get_by_role("button", name=f"Revoke token {issued['id']}").click()
        await expect(page.locator(".done")).to_contain_text("Token revoked")
        await expect(row).to_have_class("revoked")
        await expect(row.get_by_role("button")).to_have_count(0)
        assert (await client.get("/cases")).status_code == 401
    # Revoking one of bob's tokens ended his console session too.
    await bob.reload()
    await expect(bob.get_by_label("User name")).to_be_visible()


async def test_an_admin_sets_and_resets_a_password(console: Console) -> None:
    bob = await console.sign_in("bob")
    page = await console.sign_in("admin")
    await page.goto("/console/admin/users/bob")
    await expect(page.locator("#open-sessions")).to_have_text("1")
    await page.get_by_label("New password", exact=True).fill("a new long password")
    await page.get_by_label("Repeat the new password").fill("a new long passwort")
    async with page.expect_response("**/console/admin/users/bob/password") as answer:
        await page.get_by_role("button", name="Set password", exact=True).click()
    assert (await answer.value).status == 422
    await expect(page.locator("#error-password")).to_have_text("the two passwords differ")
    # Never sent back into the page.
    await expect(page.get_by_label("New password", exact=True)).to_have_value("")

    # The browser refuses a short one itself; sent anyway, the server refuses it too.
    token = await page.locator("#set-password input[name='csrf_token']").input_value()
    short = await page.request.post(
        "/console/admin/users/bob/password",
        form={"csrf_token": token, "password": "short", "confirmation": "short"},
        headers={"Origin": console.base_url},
    )
    assert short.status == 422
    assert "New password: String should have at least 12 characters" in await short.text()

    await page.get_by_label("New password", exact=True).fill("a new long password")
    await page.get_by_label("Repeat the new password").fill("a new long password")
    await page.get_by_role("button", name="Set password", exact=True).click()
    await expect(page.locator(".done")).to_have_text(
        "Password set. Their console sessions have ended."
    )
    await expect(page.locator("#open-sessions")).to_have_text("0")
    await bob.reload()
    await expect(bob.get_by_label("User name")).to_be_visible()
    refused = await console.sign_in("bob")
    await expect(refused.locator(".error")).to_have_text("wrong user name or password")
    again = await console.sign_in("bob", "a new long password")
    await expect(again).to_have_url(f"{console.base_url}/console/queues/1")

    await page.get_by_role("button", name="Reset password").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New password for bob")
    reset = await page.get_by_label("Password").input_value()
    assert len(reset) >= 12
    await shot(page, "admin-password-reset")
    await again.reload()
    await expect(again.get_by_label("User name")).to_be_visible()
    fresh = await console.sign_in("bob", reset)
    await expect(fresh).to_have_url(f"{console.base_url}/console/queues/1")


async def test_only_admins_open_the_admin_pages(console: Console) -> None:
    for user, role in (("bob", "an agent"), ("ada", "an auditor"), ("rex", "a release_manager")):
        page = await console.sign_in(user)
        await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
        for path in ("/console/admin", "/console/admin/users/bob"):
            response = await page.goto(path)
            assert response is not None and response.status == 403
            await expect(page.locator(".error")).to_contain_text(f"{role} may not open this page")
    # A form sent anyway, with the release manager's own valid CSRF token, is refused.
    await page.goto("/console/queues/1")
    token = await page.locator("input[name='csrf_token']").first.input_value()
    sent = await page.request.post(
        "/console/admin/users",
        form={"csrf_token": token, "id": "mallory", "name": "Mallory", "role": "admin"},
        headers={"Origin": console.base_url},
    )
    assert sent.status == 403
    users = {u["id"] for u in (await console.api.admin.get("/users")).json()}
    assert "mallory" not in users


async def test_an_admin_form_without_its_csrf_token_changes_nothing(console: Console) -> None:
    page = await admin_page(console)
    token = await page.locator("input[name='csrf_token']").first.input_value()
    mallory: dict[str, str | float | bool] = {"id": "mallory", "name": "M", "role": "admin"}
    for origin, form in (
        (console.base_url, mallory),
        ("https://evil.example", {**mallory, "csrf_token": token}),
    ):
        sent = await page.request.post(
            "/console/admin/users", form=form, headers={"Origin": origin}
        )
        assert sent.status == 403
        assert "did not come from this site" in await sent.text()
    users = {u["id"] for u in (await console.api.admin.get("/users")).json()}
    assert "mallory" not in users


async def test_what_the_api_refuses_the_form_refuses_in_the_same_words(console: Console) -> None:
    page = await admin_page(console)
    token = await page.locator("input[name='csrf_token']").first.input_value()
    origin = {"Origin": console.base_url}
    unknown_plan = await page.request.post(
        "/console/admin/organisations",
        form={"csrf_token": token, "id": "hooli", "name": "Hooli", "plan": "nope:gold"},
        headers=origin,
    )
    assert unknown_plan.status == 422
    api = await console.api.admin.post(
        "/organisations", json={"id": "hooli", "name": "Hooli", "plan": "nope:gold"}
    )
    assert api.status_code == 422
    reason = api.json()["errors"][0]["message"]
    assert reason.startswith("no catalog 'nope'")
    assert f"Plan: {reason}".replace("'", "&#39;") in await unknown_plan.text()

    control = await page.request.post(
        "/console/admin/users",
        form={"csrf_token": token, "id": "al", "name": "Al\x07", "role": "auditor"},
        headers=origin,
    )
    assert control.status == 422
    assert "Name: contains the control character U+0007" in await control.text()
    bad_email = await page.request.post(
        "/console/admin/organisations",
        form={
            "csrf_token": token,
            "id": "hooli",
            "name": "Hooli",
            "plan": "short-sla:fast",
            "contact_emails": "gavin@hooli.example\nnot an address",
        },
        headers=origin,
    )
    assert bad_email.status == 422
    assert "Contact e-mail 2: value is not a valid email address" in await bad_email.text()
    assert (await console.api.admin.get("/organisations/hooli")).status_code == 404
