"""The CLI against the same running API the API tests use, one token per user."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tests.api.conftest import Api, api, catalog_dir, worker_settings  # noqa: F401
from tests.conftest import process_log_handler_aside

runner = CliRunner()


@dataclass
class Cli:
    """Runs `tierline ...` as one of the fixture's users."""

    base_url: str
    tokens: dict[str, str]

    async def __call__(self, user: str, *args: str) -> Result:
        env = {
            "TIERLINE_API": self.base_url,
            "TIERLINE_TOKEN": self.tokens[user],
            "COLUMNS": "200",
        }

        def invoke() -> Result:
            with process_log_handler_aside():
                return runner.invoke(app, list(args), env=env)

        # The API serves on this thread's event loop; the CLI blocks, so it runs beside it.
        return await asyncio.to_thread(invoke)


def bearer(client: httpx.AsyncClient) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def cli(api: Api) -> Cli:  # noqa: F811
    tokens = {user: bearer(client) for user, client in api.users.items()}
    tokens["admin"] = bearer(api.admin)
    return Cli(str(api.admin.base_url), tokens)
