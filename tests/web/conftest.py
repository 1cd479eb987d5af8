"""The console in a real browser: Debian's chromium driven by Playwright, against the API
fixture's real HTTP server, worker and Temporal dev server."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import Engine

from policies.loading import CATALOG_DIR
from tests.api.conftest import Api, worker_settings  # noqa: F401
from tests.api.conftest import api as api
from tests.builders import CATALOG_DIR as TEST_CATALOGS

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
# Screenshots of every page the tests visit: CI keeps them as artefacts.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
INITECH = {
    "id": "initech",
    "name": "Initech",
    "plan": "countdown:twenty",
    "contact_emails": ["peter@initech.example"],
}


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalogs, the short-SLA test catalog and the countdown catalog."""
    directory = tmp_path_factory.mktemp("catalogs")
    for source in [
        *CATALOG_DIR.glob("*.yaml"),
        TEST_CATALOGS / "short-sla.yaml",
        Path(__file__).parent / "catalogs" / "countdown.yaml",
    ]:
        shutil.copy(source, directory / source.name)
    return directory


@pytest.fixture
def read_model(sqlite_engine: Engine) -> Engine:
    """The browser tests run on SQLite; the pages' queries are the API's, which the API
    suite runs on both databases."""
    return sqlite_engine


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@dataclass
class Console:
    api: Api
    base_url: str
    browser: Browser
    contexts: list[BrowserContext]

    async def page(self) -> Page:
        """A fresh browser (own cookies), signed in as nobody."""
        context = await self.browser.new_context(base_url=self.base_url)
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        return page

    async def sign_in(self, user: str, password: str = PASSWORD) -> Page:
        page = await self.page()
        await page.goto("/console/sign-in")
        await page.get_by_label("User name").fill(user)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
        return page

    async def open_case(self, title: str = "Reports fail", organisation: str = "acme") -> int:
        customer = self.api.ann if organisation == "acme" else self.api.peter
        response = await customer.post(
            "/cases",
            json={
                "organisation": organisation,
                "company_name": organisation.capitalize(),
                "contact": {"name": "Ann", "email": "ann@acme.example"},
                "title": title,
                "details": "Nothing renders since this morning.",
                "severity": "normal",
            },
        )
        assert response.status_code == 201, response.text
        number: int = response.json()["number"]
        return number


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def console(api: Api, browser: Browser) -> AsyncIterator[Console]:
    assert (await api.admin.post("/organisations", json=INITECH)).status_code == 201
    peter = {"id": "peter", "name": "Peter", "role": "customer", "organisation": "initech"}
    assert (await api.admin.post("/users", json=peter)).status_code == 201
    token = (await api.admin.post("/users/peter/tokens", json={})).json()["token"]
    api.users["peter"] = httpx.AsyncClient(
        base_url=str(api.admin.base_url), headers={"Authorization": f"Bearer {token}"}
    )
    for user in ("admin", "bob", "tia", "ann", "gus", "ada", "rex", "peter"):
        response = await api.admin.put(f"/users/{user}/password", json={"password": PASSWORD})
        assert response.status_code == 204, response.text
    made = Console(api, str(api.admin.base_url).rstrip("/"), browser, [])
    yield made
    for context in made.contexts:
        await context.close()
    await api.users["peter"].aclose()


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token on the page"
    return found.group(1)
