"""A running API on real HTTP, with users of every role and their tokens."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from api.app import create_app
from policies.loading import CATALOG_DIR
from settings import Settings
from tests.builders import CATALOG_DIR as TEST_CATALOGS
from tests.conftest import free_port, running, serve
from worker import build_worker

ACME = {
    "id": "acme",
    "name": "Acme Corp",
    "plan": "short-sla:fast",
    "contact_emails": ["ann@acme.example"],
}
GLOBEX = {"id": "globex", "name": "Globex", "plan": "us-software-002:enterprise"}

USERS: list[dict[str, Any]] = [
    {"id": "bob", "name": "Bob Agent", "role": "agent", "tiers": [1, 2]},
    {"id": "tia", "name": "Tia Tier3", "role": "agent", "tiers": [3]},
    {"id": "ann", "name": "Ann Customer", "role": "customer", "organisation": "acme"},
    {"id": "gus", "name": "Gus Customer", "role": "customer", "organisation": "globex"},
    {"id": "ada", "name": "Ada Auditor", "role": "auditor"},
    {"id": "rex", "name": "Rex Release", "role": "release_manager"},
]


@dataclass
class Api:
    """One HTTP client per user, all against the same running app."""

    anonymous: httpx.AsyncClient
    admin: httpx.AsyncClient
    users: dict[str, httpx.AsyncClient]
    token_ids: dict[str, int]
    engine: Engine

    def __getattr__(self, user: str) -> httpx.AsyncClient:
        return self.users[user]


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalogs plus the test catalog with short SLAs."""
    directory = tmp_path_factory.mktemp("catalogs")
    for source in [*CATALOG_DIR.glob("*.yaml"), TEST_CATALOGS / "short-sla.yaml"]:
        shutil.copy(source, directory / source.name)
    return directory


@pytest.fixture
def worker_settings() -> Settings | None:
    """The worker's settings (SMTP, webhook secret); a test module overrides this fixture
    to catch the notifications that its worker sends."""
    return None


@pytest.fixture
async def api(
    dev_client: Client,
    read_model: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    catalog_dir: Path,
    tmp_path: Path,
    worker_settings: Settings | None,
) -> AsyncIterator[Api]:
    port = free_port()
    settings = Settings(
        # Where links in mail point: the server below (not the embedded stack, which
        # would take it from the request).
        public_url=f"http://127.0.0.1:{port}",
        catalog_dir=catalog_dir,
        var_dir=tmp_path / "var",
        temporal_address=dev_client.service_client.config.target_host,
        temporal_namespace=dev_client.namespace,
        temporal_task_queue=task_queue,
        database_url=str(read_model.url.render_as_string(hide_password=False)),
        # A cluster address is production to the API, which then refuses the default secret.
        webhook_secret="api-tests",
    )
    worker = build_worker(dev_client, read_model, task_queue, activity_executor, worker_settings)
    async with running(worker):
        server, task, base_url = await serve(create_app(settings), port)
        admin_token = (settings.var_dir / "admin-token").read_text().strip()
        clients: list[httpx.AsyncClient] = []

        def client(token: str | None) -> httpx.AsyncClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            made = httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers)
            clients.append(made)
            return made

        admin = client(admin_token)
        for organisation in (ACME, GLOBEX):
            assert (await admin.post("/organisations", json=organisation)).status_code == 201
        users: dict[str, httpx.AsyncClient] = {}
        token_ids: dict[str, int] = {}
        for user in USERS:
            assert (await admin.post("/users", json=user)).status_code == 201
            issued = (await admin.post(f"/users/{user['id']}/tokens", json={})).json()
            users[user["id"]], token_ids[user["id"]] = client(issued["token"]), issued["id"]
        yield Api(client(None), admin, users, token_ids, read_model)
        for made in clients:
            await made.aclose()
        server.should_exit = True
        async with asyncio.timeout(30):
            await task
