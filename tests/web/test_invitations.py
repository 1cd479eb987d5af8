"""Invitations and forgotten passwords: a one-time link e-mailed through a real SMTP relay
(the `smtp_inbox` fixture) and opened in Chromium; it works once, expires, never shows in
an answer or a log, and only admins, and agents for customers, may send one."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from types import SimpleNamespace

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import update
from sqlmodel import Session, col, select
from starlette.requests import Request
from typer.testing import CliRunner, Result

from api.errors import Unavailable
from cli.main import app as tierline_cli
from db.invitations import PasswordLink
from db.read_model import User, utcnow
from settings import Settings
from tests.conftest import Inbox, process_log_handler_aside
from tests.web.conftest import PASSWORD, Console, form_token, shot
from web import links, passwords, sessions

NINA = {
    "id": "nina",
    "name": "Nina Customer",
    "role": "customer",
    "organisation": "acme",
    "email": "nina@acme.example",
}
NEW_PASSWORD = "nina chose this passphrase"
LINK = re.compile(r"(http://\S+/console/(?:welcome|reset)\?token=([A-Za-z0-9_-]+))")
SAME_ANSWER = "If that account exists, a link is on its way"


@pytest.fixture
def worker_settings(
    smtp_inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The API's settings are read from the environment for what its fixture leaves out,
    the SMTP relay among them: both the API and the worker send to the test's inbox."""
    _, port = smtp_inbox
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    yield Settings(smtp_host="127.0.0.1", smtp_port=port, webhook_secret="api-tests")


@pytest.fixture
def inbox(smtp_inbox: tuple[Inbox, int]) -> Inbox:
    return smtp_inbox[0]


async def mail_to(inbox: Inbox, address: str, count: int = 1) -> EmailMessage:
    """The `count`th mail to `address`, waiting for it up to 15 s."""
    async with asyncio.timeout(15):
        while True:
            received = inbox.to(address)
            if len(received) >= count:
                return received[count - 1]
            await asyncio.sleep(0.02)


def text_of(mail: EmailMessage) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_in(mail: EmailMessage) -> tuple[str, str]:
    """The mail's link and its token."""
    found = LINK.search(text_of(mail))
    assert found, text_of(mail)
    return found.group(1), found.group(2)


async def add_nina(console: Console) -> None:
    assert (await console.api.admin.post("/users", json=NINA)).status_code == 201


def password_works(console: Console, user_id: str, password: str) -> bool:
    with Session(console.api.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return passwords.verify(password, user.password_hash)[0]


def links_of(console: Console, user_id: str) -> list[PasswordLink]:
    with Session(console.api.engine) as session:
        return list(session.exec(select(PasswordLink).where(PasswordLink.user_id == user_id)))


async def test_an_invited_customer_chooses_a_password_and_signs_in(
    console: Console, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_nina(console)
    admin = await console.sign_in("admin")
    await admin.goto("/console/admin/users/nina")
    await admin.get_by_role("button", name="Send invitation").click()
    await expect(admin.locator(".done")).to_have_text(
        "Invitation sent by e-mail: its link works once, for 72 hours."
    )
    await shot(admin, "admin-user-invited")

    mail = await mail_to(inbox, "nina@acme.example")
    assert mail["Subject"] == "You are invited to Tierline: choose your password"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "Administrator invited you" in text_of(mail)
    assert "Your user name is nina." in text_of(mail)
    link, token = link_in(mail)
    assert link == f"{console.base_url}/console/welcome?token={token}"

    page = await console.page()
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Tierline")
    await expect(page.get_by_label("User name")).to_have_value("nina")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD + "!")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.locator(".error")).to_have_text("the two passwords differ")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await shot(page, "welcome")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your password is set")
    await shot(page, "welcome-done")

    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("User name").fill("nina")
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    # The portal, once it is there; until then the console's landing.
    assert re.search(r"/(portal|console)(/|$)", page.url), page.url
    cookie = next(c for c in await page.context.cookies() if c.get("name") == sessions.COOKIE)
    signed_in = await asyncio.to_thread(
        sessions.lookup, console.api.engine, Settings(), cookie.get("value")
    )
    assert signed_in is not None and signed_in.user.id == "nina"

    again = await console.page()
    answer = await again.goto(link)
    assert answer is not None and answer.status == 410
    await expect(again.locator(".error")).to_have_text(
        "This link has been used already: each link works once."
    )
    await shot(again, "welcome-used")
    [used] = links_of(console, "nina")
    assert used.purpose == "invite" and used.created_by == "admin" and used.used_at is not None
    assert token not in caplog.text


async def test_an_invitation_works_once_even_from_a_page_opened_before(
    console: Console, inbox: Inbox
) -> None:
    await add_nina(console)
    assert (await console.api.admin.post("/users/nina/invite")).status_code == 202
    link, token = link_in(await mail_to(inbox, "nina@acme.example"))
    async with (
        httpx.AsyncClient(base_url=console.base_url) as first,
        httpx.AsyncClient(base_url=console.base_url) as second,
    ):
        forms = [await first.get(link), await second.get(link)]
        sent = {"token": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
        used = await first.post(
            "/console/welcome", data={**sent, "csrf_token": form_token(forms[0].text)}
        )
        assert used.status_code == 200, used.text
        late = await second.post(
            "/console/welcome",
            data={**sent, "password": "another passphrase", "confirmation": "another passphrase"}
            | {"csrf_token": form_token(forms[1].text)},
        )
    assert late.status_code == 410
    assert "This link has been used already" in late.text
    assert password_works(console, "nina", NEW_PASSWORD)


async def test_an_expired_invitation_is_refused(console: Console, inbox: Inbox) -> None:
    await add_nina(console)
    assert (await console.api.admin.post("/users/nina/invite")).status_code == 202
    link, token = link_in(await mail_to(inbox, "nina@acme.example"))
    page = await console.page()
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)

    expired = utcnow() - timedelta(minutes=1)
    with Session(console.api.engine) as session:
        session.exec(
            update(PasswordLink)
            .where(col(PasswordLink.user_id) == "nina")
            .values(expires_at=expired)
        )
        session.commit()
    async with page.expect_response("**/console/welcome") as sent:
        await page.get_by_role("button", name="Set password").click()
    assert (await sent.value).status == 410
    stamp = expired.strftime("%Y-%m-%d %H:%M UTC")
    await expect(page.locator(".error")).to_have_text(f"This link expired at {stamp}.")
    await shot(page, "welcome-expired")
    assert not password_works(console, "nina", NEW_PASSWORD)
    again = await page.goto(link)
    assert again is not None and again.status == 410
    unknown = await page.goto(link.replace(token, "not-a-token"))
    assert unknown is not None and unknown.status == 404


async def test_a_forgotten_password_is_reset_by_mail_and_ends_the_sessions(
    console: Console, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_nina(console)
    assert (
        await console.api.admin.put("/users/nina/password", json={"password": PASSWORD})
    ).status_code == 204
    session_page = await console.sign_in("nina")
    old_cookie = next(
        c for c in await session_page.context.cookies() if c.get("name") == sessions.COOKIE
    )

    page = await console.page()
    await page.goto("/console/sign-in")
    await page.get_by_role("link", name="Forgot your password?").click()
    answers = []
    for who in ("nobody", "ghost@acme.example", "NINA@acme.example"):
        await page.get_by_label("User name or e-mail address").fill(who)
        if who == "nobody":
            await shot(page, "forgot")
        async with page.expect_response("**/console/forgot") as sent:
            await page.get_by_role("button", name="Send me a link").click()
        answer = await sent.value
        answers.append((answer.status, await answer.text()))
        await expect(page.locator("#reset-sent")).to_contain_text(SAME_ANSWER)
        await page.goto("/console/forgot")
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200

    mail = await mail_to(inbox, "nina@acme.example")
    # Resets go out in the order asked for: nothing came, or will, for the other two.
    assert [m["To"] for m in inbox.messages] == ["nina@acme.example"]
    assert mail["Subject"] == "Reset your Tierline password"
    link, token = link_in(mail)
    assert link == f"{console.base_url}/console/reset?token={token}"

    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await shot(page, "reset")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your new password is set")
    await shot(page, "reset-done")

    assert password_works(console, "nina", NEW_PASSWORD)
    assert not password_works(console, "nina", PASSWORD)
    ended = await asyncio.to_thread(
        sessions.lookup, console.api.engine, Settings(), old_cookie.get("value")
    )
    assert ended is None
    again = await page.goto(link)
    assert again is not None and again.status == 410
    assert token not in caplog.text


async def test_reset_requests_are_limited_per_address(console: Console, inbox: Inbox) -> None:
    async with httpx.AsyncClient(base_url=console.base_url) as client:
        for _ in range(links.RESET_ADDRESS_LIMIT):
            form = await client.get("/console/forgot")
            sent = await client.post(
                "/console/forgot", data={"who": "nobody", "csrf_token": form_token(form.text)}
            )
            assert sent.status_code == 200
            assert SAME_ANSWER in sent.text
        form = await client.get("/console/forgot")
        refused = await client.post(
            "/console/forgot", data={"who": "nobody", "csrf_token": form_token(form.text)}
        )
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        no_token = await client.post("/console/forgot", data={"who": "nobody"})
        assert no_token.status_code == 403


async def test_who_may_invite_whom(console: Console, inbox: Inbox) -> None:
    api = console.api
    await add_nina(console)
    tom = {"id": "tom", "name": "Tom", "role": "agent", "tiers": [1], "email": "tom@x.example"}
    assert (await api.admin.post("/users", json=tom)).status_code == 201

    invited = await api.bob.post("/users/nina/invite")
    assert invited.status_code == 202, invited.text
    assert set(invited.json()) == {"user_id", "email", "expires_at"}
    assert invited.json()["email"] == "nina@acme.example"
    _, token = link_in(await mail_to(inbox, "nina@acme.example"))
    assert token not in invited.text and token not in str(invited.headers)
    assert "Bob Agent invited you" in text_of(inbox.to("nina@acme.example")[0])
    [sent] = links_of(console, "nina")
    lifetime = sent.expires_at - sent.created_at
    assert lifetime == timedelta(hours=Settings().invite_link_hours)

    agent = await api.bob.post("/users/tom/invite")
    assert agent.status_code == 403
    assert agent.json()["detail"] == "an agent may invite customers only; tom is an agent"
    for user in ("ann", "ada", "rex"):
        assert (await getattr(api, user).post("/users/nina/invite")).status_code == 403
    assert (await api.anonymous.post("/users/nina/invite")).status_code == 401
    assert (await api.admin.post("/users/tom/invite")).status_code == 202
    unknown = await api.admin.post("/users/nobody/invite")
    assert unknown.status_code == 404
    no_mail = await api.admin.post("/users/gus/invite")
    assert no_mail.status_code == 409
    assert no_mail.json()["detail"] == "user gus has no e-mail address to send the link to"
    assert (await api.admin.put("/users/nina/password", json={"password": PASSWORD})).is_success
    has_password = await api.bob.post("/users/nina/invite")
    assert has_password.status_code == 409
    assert has_password.json()["detail"].startswith("nina has a console password already")


async def test_a_mail_the_relay_refuses_leaves_no_link(console: Console, inbox: Inbox) -> None:
    async def refuse(server: object, session: object, envelope: object) -> str:
        return "554 5.7.1 not today"

    await add_nina(console)
    inbox.handle_DATA = refuse  # type: ignore[method-assign]
    try:
        answer = await console.api.admin.post("/users/nina/invite")
    finally:
        del inbox.handle_DATA
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith(
        "the e-mail to nina@acme.example could not be sent, so no link was made: SMTPDataError"
    )
    assert "not today" in answer.json()["detail"]
    assert links_of(console, "nina") == []
    assert (await console.api.admin.post("/users/nina/invite")).status_code == 202
    await mail_to(inbox, "nina@acme.example")

    admin = await console.sign_in("admin")
    assert (
        await console.api.admin.put("/users/nina/password", json={"password": PASSWORD})
    ).status_code == 204
    await admin.goto("/console/admin/users/nina")
    await expect(admin.get_by_role("button", name="Send invitation")).to_be_disabled()


async def tierline(console: Console, user: str, *args: str) -> Result:
    """`tierline ...` as `user`, beside the API serving on this loop."""
    client = console.api.admin if user == "admin" else getattr(console.api, user)
    env = {
        "TIERLINE_API": console.base_url,
        "TIERLINE_TOKEN": client.headers["Authorization"].removeprefix("Bearer "),
        "COLUMNS": "200",
    }

    def invoke() -> Result:
        with process_log_handler_aside():
            return CliRunner().invoke(tierline_cli, list(args), env=env)

    return await asyncio.to_thread(invoke)


async def test_the_cli_invites(console: Console, inbox: Inbox) -> None:
    await add_nina(console)
    result = await tierline(console, "bob", "users", "invite", "nina")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Invitation sent to nina <nina@acme.example>; the link works")
    _, token = link_in(await mail_to(inbox, "nina@acme.example"))
    assert token not in result.output

    refused = await tierline(console, "bob", "users", "invite", "ada")
    assert refused.exit_code == 1
    assert "Not allowed for your role (403)" in refused.stderr
    assert "an agent may invite customers only; ada is an auditor" in refused.stderr


async def test_a_forged_host_header_does_not_choose_where_a_link_points(
    console: Console, inbox: Inbox
) -> None:
    """Anyone may ask for a reset link; the link must point at `public_url` whatever the
    request's Host header says, or an attacker would be mailed nothing but the victim
    would be mailed the attacker's site."""
    await add_nina(console)
    async with httpx.AsyncClient(base_url=console.base_url, timeout=30) as client:
        form = await client.get("/console/forgot")
        answer = await client.post(
            "/console/forgot",
            data={"csrf_token": form_token(form.text), "who": "nina"},
            headers={"Host": "evil.example"},
        )
        assert answer.status_code == 200, answer.text
    link, _ = link_in(await mail_to(inbox, "nina@acme.example"))
    assert link.startswith(f"{console.base_url}/console/reset?token=")


def test_outside_the_embedded_stack_links_need_a_public_url() -> None:
    cluster = Settings(temporal_address="temporal:7233", public_url=None)
    app = SimpleNamespace(state=SimpleNamespace(settings=cluster))
    request = Request({"type": "http", "app": app, "headers": [(b"host", b"evil.example")]})
    with pytest.raises(Unavailable, match="PUBLIC_URL"):
        links.base_url(request)
    app.state.settings = Settings(public_url="https://support.example.com")
    assert links.base_url(request) == "https://support.example.com"


async def test_an_agent_invites_a_contact_from_the_console(console: Console, inbox: Inbox) -> None:
    """Agents invite customers from the console's Contacts page (admins from Admin too):
    customers only, each with whether they can sign in yet; the mail is the same."""
    await add_nina(console)
    bob = await console.sign_in("bob")
    await bob.get_by_role("link", name="Contacts").click()
    await bob.get_by_label("Organisation").select_option("acme")
    await bob.get_by_role("button", name="Filter").click()
    rows = bob.locator("#contact-list tbody tr[data-user]")
    # Customers only, Acme's only: no staff, no Globex or Initech contact.
    assert sorted([await r.get_attribute("data-user") or "" for r in await rows.all()]) == [
        "ann",
        "nina",
    ]
    ann = bob.locator("tr[data-user='ann']")
    await expect(ann).to_contain_text("yes, since")  # the fixture set her password
    await expect(ann.get_by_role("button")).to_have_count(0)
    nina = bob.locator("tr[data-user='nina']")
    await expect(nina).to_contain_text("not yet")
    await nina.get_by_role("button", name="Send invitation: Nina Customer").click()
    await expect(bob.locator(".done")).to_have_text("Invitation sent to nina.")
    await expect(nina).to_contain_text("invited; the link works until")
    await shot(bob, "console-contacts")
    mail = await mail_to(inbox, "nina@acme.example")
    assert "Bob Agent invited you" in text_of(mail)
    [sent] = links_of(console, "nina")
    assert sent.created_by == "bob"

    # Staff are no contacts: a forced invitation of an agent is refused, and the page is
    # not an agent-only one for nothing: auditors and customers are turned away.
    page = await bob.goto("/console/contacts")
    assert page is not None and page.status == 200
    token = form_token(await bob.content())
    async with httpx.AsyncClient(base_url=console.base_url) as client:
        cookie = next(c for c in await bob.context.cookies() if c.get("name") == sessions.COOKIE)
        client.cookies.set(sessions.COOKIE, cookie.get("value", ""))
        forced = await client.post("/console/contacts/tia/invite", data={"csrf_token": token})
        assert forced.status_code == 404
    assert inbox.to("tia@x.example") == []
    for user in ("ada", "ann"):
        other = await console.sign_in(user)
        answer = await other.goto("/console/contacts")
        assert answer is not None and answer.status == 403, user
