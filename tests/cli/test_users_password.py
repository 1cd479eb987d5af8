"""`tierline users password`: prompted twice without echo or read from stdin, refused by
the API's rules, and the user's console sessions end."""

from __future__ import annotations

import asyncio

from sqlmodel import Session
from typer.testing import Result

from cli.main import app
from db.read_model import User
from settings import Settings
from tests.api.conftest import Api
from tests.cli.conftest import Cli, runner
from web import passwords, sessions

PASSWORD = "a long enough password"


async def tierline(cli: Cli, user: str, *args: str, stdin: str = "") -> Result:
    """`tierline ...` as `user`, with `stdin` typed in (the fixture's runner types nothing)."""
    env = {"TIERLINE_API": cli.base_url, "TIERLINE_TOKEN": cli.tokens[user], "COLUMNS": "200"}
    return await asyncio.to_thread(runner.invoke, app, list(args), input=stdin, env=env)


def password_works(api: Api, user_id: str, password: str) -> bool:
    with Session(api.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return passwords.verify(password, user.password_hash)[0]


async def test_the_password_is_asked_twice_and_never_echoed(cli: Cli, api: Api) -> None:
    result = await tierline(cli, "admin", "users", "password", "bob", stdin=f"{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert "Password set for bob; their console sessions have ended" in result.stdout
    assert "New password" in result.output and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert await asyncio.to_thread(password_works, api, "bob", PASSWORD)


async def test_two_different_entries_set_nothing(cli: Cli, api: Api) -> None:
    result = await tierline(
        cli, "admin", "users", "password", "bob", stdin=f"{PASSWORD}\n{PASSWORD}!\n"
    )
    assert result.exit_code == 1
    assert "do not match" in result.output
    assert not await asyncio.to_thread(password_works, api, "bob", PASSWORD)


async def test_password_stdin_sets_it_and_ends_the_users_sessions(cli: Cli, api: Api) -> None:
    first = await tierline(
        cli, "admin", "users", "password", "bob", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert first.exit_code == 0, first.output
    settings = Settings()
    cookie, _ = await asyncio.to_thread(
        sessions.sign_in, api.engine, settings, "bob", PASSWORD, "127.0.0.1"
    )
    assert await asyncio.to_thread(sessions.lookup, api.engine, settings, cookie) is not None

    second = await tierline(
        cli, "admin", "users", "password", "bob", "--password-stdin", stdin="another one, longer"
    )
    assert second.exit_code == 0, second.output
    assert "their console sessions have ended" in second.stdout
    assert await asyncio.to_thread(sessions.lookup, api.engine, settings, cookie) is None
    assert await asyncio.to_thread(password_works, api, "bob", "another one, longer")


async def test_refusals_are_the_apis(cli: Cli, api: Api) -> None:
    short = await tierline(cli, "admin", "users", "password", "bob", "--password-stdin", stdin="x")
    assert short.exit_code == 1
    assert "Invalid request (422)" in short.stderr
    assert "body.password: String should have at least 12 characters" in short.stderr

    unknown = await tierline(
        cli, "admin", "users", "password", "nobody", "--password-stdin", stdin=PASSWORD
    )
    assert unknown.exit_code == 1
    assert "user nobody does not exist" in unknown.stderr

    agent = await tierline(
        cli, "bob", "users", "password", "ann", "--password-stdin", stdin=PASSWORD
    )
    assert agent.exit_code == 1
    assert "Not allowed for your role (403)" in agent.stderr
    assert not await asyncio.to_thread(password_works, api, "ann", PASSWORD)
