"""Console passwords and sessions over plain HTTP: the password API, signing in and its
limits, every way a session ends, CSRF refusals, and the headers of every page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from api.app import create_app
from db.read_model import SignInFailure, WebSession, utcnow
from settings import Settings
from tests.web.conftest import PASSWORD, Console, form_token
from web import security, sessions

SIGN_IN = "/console/sign-in"
QUEUE = "/console/queues/1"
EVIL = "https://evil.example"


@asynccontextmanager
async def browser(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies like a browser and shows redirects rather than following."""
    async with httpx.AsyncClient(base_url=console.base_url, timeout=30) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get(SIGN_IN)
    assert form.status_code == 200
    return await client.post(
        SIGN_IN, data={"csrf_token": form_token(form.text), "user": user, "password": password}
    )


async def signed_in(console: Console, user: str) -> str:
    """A new session of `user`: its cookie."""
    async with browser(console) as client:
        response = await sign_in(client, user)
        assert response.status_code == 303, response.text
        cookie = client.cookies[sessions.COOKIE]
    assert cookie
    return cookie


async def opens_the_queue(console: Console, cookie: str) -> bool:
    """Whether the cookie still opens a page (else: sent to sign in)."""
    async with httpx.AsyncClient(
        base_url=console.base_url, cookies={sessions.COOKIE: cookie}
    ) as client:
        response = await client.get(QUEUE)
    if response.status_code == 303:
        assert response.headers["location"] == f"{SIGN_IN}?next={QUEUE}"
        return False
    assert response.status_code == 200, response.text
    return True


def sessions_of(console: Console, user_id: str) -> int:
    with Session(console.api.engine) as session:
        count: int = session.exec(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)
        ).one()
    return count


async def test_an_admin_sets_a_password_through_the_api(console: Console) -> None:
    admin, bob = console.api.admin, console.api.bob
    assert (
        await admin.put("/users/bob/password", json={"password": "a long password"})
    ).status_code == 204
    short = await admin.put("/users/bob/password", json={"password": "too short"})
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["body.password"]
    spaced = await admin.put("/users/bob/password", json={"password": " a long password"})
    assert spaced.status_code == 422
    assert spaced.json()["errors"] == [
        {
            "field": "body.password",
            "message": "must not start or end with a space",
            "type": "value_error",
        }
    ]
    unknown = await admin.put("/users/nobody/password", json={"password": PASSWORD})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "user nobody does not exist"
    refused = await bob.put("/users/ann/password", json={"password": "bob chose this one"})
    assert refused.status_code == 403
    assert (await console.api.anonymous.put("/users/ann/password", json={})).status_code == 401
    # Only the first change took: bob signs in with it, not with the refused ones.
    async with browser(console) as client:
        assert (await sign_in(client, "bob", "a long password")).status_code == 303
        assert (await sign_in(client, "ann", "bob chose this one")).status_code == 401


async def test_signing_in_sets_an_http_only_same_site_cookie(console: Console) -> None:
    async with browser(console) as client:
        response = await sign_in(client, "bob")
        assert response.status_code == 303
        assert response.headers["location"] == QUEUE
        cookies = [
            c for c in response.headers.get_list("set-cookie") if c.startswith(sessions.COOKIE)
        ]
        assert len(cookies) == 1
        attributes = {part.strip().lower() for part in cookies[0].split(";")[1:]}
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "path=/" in attributes
        page = await client.get(QUEUE)
        assert page.status_code == 200
        assert "Bob Agent" in page.text


async def test_a_wrong_password_is_a_401_page(console: Console) -> None:
    async with browser(console) as client:
        for user in ("bob", "nobody"):  # one answer whether the user exists or not
            response = await sign_in(client, user, "not the password")
            assert response.status_code == 401
            assert "wrong user name or password" in response.text
            assert sessions.COOKIE not in client.cookies
        assert (await client.get(QUEUE)).status_code == 303


async def test_after_the_limit_even_the_right_password_waits(console: Console) -> None:
    limit = Settings().sign_in_limit
    assert limit == 5
    async with browser(console) as client:
        for _ in range(limit):
            assert (await sign_in(client, "bob", "a guess at it")).status_code == 401
        for password in ("another guess", PASSWORD):
            response = await sign_in(client, "bob", password)
            assert response.status_code == 429
            wait = int(response.headers["retry-after"])
            assert 0 < wait <= 15 * 60
            assert f"try again in {sessions.wait_words(wait)}" in response.text
            assert sessions.COOKIE not in client.cookies
        # The count is per user: another user at the same address still signs in.
        assert (await sign_in(client, "ann")).status_code == 303


async def test_guesses_sent_at_once_get_no_more_than_the_limit(console: Console) -> None:
    """Fifteen wrong passwords for one user at the same moment: the limit still holds
    (each attempt is counted before its password is checked)."""
    limit = Settings().sign_in_limit
    async with browser(console) as client:
        form = await client.get(SIGN_IN)
        token = form_token(form.text)
        answers = await asyncio.gather(
            *(
                client.post(
                    SIGN_IN, data={"csrf_token": token, "user": "rex", "password": f"guess {n}"}
                )
                for n in range(15)
            )
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses.count(401) <= limit, statuses
    # Only the checked attempts stay counted: the ones turned away took their rows back.
    with Session(console.api.engine) as session:
        counted = session.exec(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.user_id == "rex")
        ).one()
    assert counted == statuses.count(401)


async def test_an_address_with_too_many_failures_waits_whoever_it_names(
    console: Console,
) -> None:
    """Guessing across many user names from one address: past the address's limit even a
    right password for a user without failures waits; old failures are dropped."""
    limit = Settings().sign_in_address_limit
    assert limit == 20

    def failure_long_ago() -> None:
        with Session(console.api.engine) as session:
            session.add(
                SignInFailure(user_id="old", address="10.9.9.9", at=utcnow() - timedelta(hours=1))
            )
            session.commit()

    await asyncio.to_thread(failure_long_ago)
    async with browser(console) as client:
        for n in range(limit):
            assert (await sign_in(client, f"nobody-{n}", "a guess")).status_code == 401
        response = await sign_in(client, "bob")
        assert response.status_code == 429
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60
        assert sessions.COOKIE not in client.cookies
    with Session(console.api.engine) as session:
        left = session.exec(select(SignInFailure.user_id).where(SignInFailure.user_id == "old"))
        assert left.all() == []


async def test_behind_a_tls_proxy_the_session_cookie_is_secure(console: Console) -> None:
    """A proxy on the host that ends TLS says so in X-Forwarded-Proto (uvicorn trusts it
    from FORWARDED_ALLOW_IPS, 127.0.0.1 by default): the cookie is then `Secure`; over
    plain http it cannot be (the browser would not send it back)."""
    async with browser(console) as client:
        plain = await sign_in(client, "bob")
        assert plain.status_code == 303
        assert "secure" not in plain.headers["set-cookie"].lower()
    async with httpx.AsyncClient(
        base_url=console.base_url, headers={"X-Forwarded-Proto": "https"}
    ) as client:
        form = await client.get(SIGN_IN)
        # Secure, so httpx keeps it from plain http; a browser on https would send it.
        client.cookies.set(security.PRE_SESSION_COOKIE, form.cookies[security.PRE_SESSION_COOKIE])
        answer = await client.post(
            SIGN_IN,
            data={"csrf_token": form_token(form.text), "user": "bob", "password": PASSWORD},
        )
    assert answer.status_code == 303, answer.text
    (cookie,) = [c for c in answer.headers.get_list("set-cookie") if sessions.COOKIE in c]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(attributes), cookie


async def test_a_session_ends_at_sign_out(console: Console) -> None:
    async with browser(console) as client:
        assert (await sign_in(client, "bob")).status_code == 303
        cookie = client.cookies[sessions.COOKIE]
        page = await client.get(QUEUE)
        out = await client.post("/console/sign-out", data={"csrf_token": form_token(page.text)})
        assert out.status_code == 303
        assert out.headers["location"] == SIGN_IN
    assert not await opens_the_queue(console, cookie)
    assert sessions_of(console, "bob") == 0


async def test_a_session_ends_when_an_admin_resets_the_password(console: Console) -> None:
    bob = await signed_in(console, "bob")
    await signed_in(console, "ann")
    assert await opens_the_queue(console, bob)
    reset = await console.api.admin.put("/users/bob/password", json={"password": "reset by admin"})
    assert reset.status_code == 204
    assert not await opens_the_queue(console, bob)
    assert sessions_of(console, "ann") == 1  # other users' sessions stay


async def test_a_session_ends_when_one_of_the_users_tokens_is_revoked(console: Console) -> None:
    bob = await signed_in(console, "bob")
    rex = await signed_in(console, "rex")
    assert await opens_the_queue(console, bob)
    revoked = await console.api.admin.delete(f"/tokens/{console.api.token_ids['bob']}")
    assert revoked.status_code == 200
    assert not await opens_the_queue(console, bob)
    assert await opens_the_queue(console, rex)


async def test_an_idle_session_ends(console: Console) -> None:
    cookie = await signed_in(console, "bob")

    def last_seen(minutes_ago: int) -> None:
        with console.api.engine.begin() as connection:
            connection.execute(
                update(WebSession)
                .where(col(WebSession.user_id) == "bob")
                .values(seen_at=utcnow() - timedelta(minutes=minutes_ago))
            )

    # Within the 30 minutes a request keeps it alive (and marks it seen now) ...
    await asyncio.to_thread(last_seen, 29)
    assert await opens_the_queue(console, cookie)
    await asyncio.to_thread(last_seen, 31)
    # ... past them it is gone.
    assert not await opens_the_queue(console, cookie)
    assert sessions_of(console, "bob") == 0


async def test_a_screen_updating_itself_does_not_keep_an_idle_session_alive(
    console: Console,
) -> None:
    """The parts a live screen fetches when a change is pushed are not the user at work:
    an unattended queue signs out after the idle time however busy the cases are."""
    cookie = await signed_in(console, "bob")

    def seen_minutes_ago(minutes: int | None = None) -> float:
        with console.api.engine.begin() as connection:
            if minutes is not None:
                connection.execute(
                    update(WebSession)
                    .where(col(WebSession.user_id) == "bob")
                    .values(seen_at=utcnow() - timedelta(minutes=minutes))
                )
            (seen,) = connection.execute(
                select(WebSession.seen_at).where(col(WebSession.user_id) == "bob")
            ).one()
        seen = seen if seen.tzinfo else seen.replace(tzinfo=utcnow().tzinfo)
        return (utcnow() - seen).total_seconds() / 60

    number = await console.open_case()
    await asyncio.to_thread(seen_minutes_ago, 29)
    async with httpx.AsyncClient(
        base_url=console.base_url, cookies={sessions.COOKIE: cookie}
    ) as client:
        for part in (f"{QUEUE}?part=rows", f"/console/cases/{number}?part=live"):
            assert (await client.get(part)).status_code == 200, part
        assert await asyncio.to_thread(seen_minutes_ago) > 28.9
        await asyncio.to_thread(seen_minutes_ago, 31)
        assert (await client.get(f"{QUEUE}?part=rows")).status_code == 303
    assert sessions_of(console, "bob") == 0


async def test_a_session_ends_hours_after_sign_in_however_busy(console: Console) -> None:
    cookie = await signed_in(console, "bob")
    hours = Settings().session_max_hours

    def signed_in_ago(delta: timedelta) -> None:
        with console.api.engine.begin() as connection:
            connection.execute(
                update(WebSession)
                .where(col(WebSession.user_id) == "bob")
                .values(created_at=utcnow() - delta, seen_at=utcnow())
            )

    await asyncio.to_thread(signed_in_ago, timedelta(hours=hours, minutes=-1))
    assert await opens_the_queue(console, cookie)
    await asyncio.to_thread(signed_in_ago, timedelta(hours=hours, minutes=1))
    assert not await opens_the_queue(console, cookie)


async def test_a_form_without_its_token_or_from_another_site_changes_nothing(
    console: Console,
) -> None:
    number = await console.open_case()
    async with browser(console) as client:
        assert (await sign_in(client, "bob")).status_code == 303
        page = await client.get(f"/console/cases/{number}")
        token = form_token(page.text)
        notes = f"/console/cases/{number}/notes"
        for data, headers in (
            ({"note": "no token"}, {}),
            ({"note": "wrong token", "csrf_token": "x" * 43}, {}),
            ({"note": "other site", "csrf_token": token}, {"Origin": EVIL}),
            ({"note": "cross-site fetch", "csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}),
        ):
            refused = await client.post(notes, data=data, headers=headers)
            assert refused.status_code == 403, data
            assert "did not come from this site" in refused.text
        signing_out = await client.post("/console/sign-out", data={}, headers={})
        assert signing_out.status_code == 403
        # The same form, right, goes through: the refusals were the token's and origin's.
        done = await client.post(
            notes, data={"note": "right", "csrf_token": token}, headers={"Origin": console.base_url}
        )
        assert done.status_code == 303
        assert (await client.get(QUEUE)).status_code == 200  # still signed in
    timeline = (await console.api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e["reason"] for e in timeline if e["kind"] == "note_added"] == ["right"]


async def test_every_console_response_carries_the_security_headers(console: Console) -> None:
    async with browser(console) as client:
        seen = [
            await client.get(SIGN_IN),
            await client.get(QUEUE),  # 303 to sign in
            await client.post(SIGN_IN, data={"user": "bob", "password": PASSWORD}),  # 403
            await sign_in(client, "bob", "wrong password"),  # 401
            await sign_in(client, "bob"),  # 303 with the cookie
            await client.get(QUEUE),
            await client.get("/console/queues/9"),  # 422
            await client.get("/console/cases/999999"),  # 404
            await client.get("/console/admin"),  # 403
            await client.get("/console/static/console.css"),
            await client.get("/console/no-such-page"),
        ]
    assert [r.status_code for r in seen] == [200, 303, 403, 401, 303, 200, 422, 404, 403, 200, 404]
    for response in seen:
        where = f"{response.request.method} {response.request.url.path}"
        assert response.headers["content-security-policy"] == security.CONTENT_SECURITY_POLICY, (
            where
        )
        assert response.headers["x-frame-options"] == "DENY", where
        assert response.headers["referrer-policy"] == "same-origin", where
    policy = security.CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


async def test_an_unexpected_error_on_a_page_is_a_page_with_the_headers(tmp_path: Path) -> None:
    """Starlette answers an unexpected error outside every middleware: the page still
    carries the security headers, and quotes the correlation id the log line has."""
    app = create_app(Settings(var_dir=tmp_path / "var"))

    @app.get("/console/fails-on-purpose")
    async def fails() -> None:
        raise ZeroDivisionError("division by zero")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        response = await client.get("/console/fails-on-purpose")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == security.CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    correlation_id = response.headers["x-correlation-id"]
    assert len(correlation_id) == 32 and correlation_id in response.text
    assert "ZeroDivisionError" not in response.text


async def test_behind_a_tls_proxy_the_browsers_https_origin_is_this_site(console: Console) -> None:
    """A proxy that ends TLS and does not pass the scheme on: the app sees http, the
    browser says https. Same host and port: the form is this site's."""
    async with browser(console) as client:
        form = await client.get(SIGN_IN)
        host = client.base_url.netloc.decode()
        token = form_token(form.text)
        elsewhere = await client.post(
            SIGN_IN,
            data={"csrf_token": token, "user": "bob", "password": PASSWORD},
            headers={"Origin": f"https://elsewhere.example:{client.base_url.port}"},
        )
        assert elsewhere.status_code == 403
        answer = await client.post(
            SIGN_IN,
            data={"csrf_token": token, "user": "bob", "password": PASSWORD},
            headers={"Origin": f"https://{host}"},
        )
        assert answer.status_code == 303, answer.text


async def test_signing_in_again_ends_the_browsers_previous_session(console: Console) -> None:
    async with browser(console) as client:
        assert (await sign_in(client, "bob")).status_code == 303
        first = client.cookies[sessions.COOKIE]
        assert (await sign_in(client, "bob")).status_code == 303
        assert client.cookies[sessions.COOKIE] != first
    assert not await opens_the_queue(console, first)
    assert sessions_of(console, "bob") == 1


async def test_signing_in_returns_to_the_page_asked_for_and_never_off_site(
    console: Console,
) -> None:
    async with browser(console) as client:
        asked = await client.get("/portal/notices")
        assert asked.status_code == 303
        assert asked.headers["location"] == f"{SIGN_IN}?next=/portal/notices"
        for next_path, lands in (
            ("https://evil.example/", "/portal"),
            ("//evil.example/", "/portal"),
            ("/portal/notices", "/portal/notices"),
        ):
            form = await client.get(f"{SIGN_IN}?next={next_path}")
            answer = await client.post(
                SIGN_IN,
                data={
                    "csrf_token": form_token(form.text),
                    "user": "ann",
                    "password": PASSWORD,
                    "next": next_path,
                },
            )
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == lands


def test_a_wait_is_said_in_words() -> None:
    said = [sessions.wait_words(s) for s in (1, 59, 60, 61, 899, 900)]
    assert said == ["1 second", "59 seconds", "1 minute", "2 minutes", "15 minutes", "15 minutes"]
