"""The API's documentation pages work offline: every script and style they load is
served by the app itself, never by a CDN."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_documentation_assets_are_served_by_the_app(api: Api, page: str) -> None:
    response = await api.anonymous.get(page)
    assert response.status_code == 200
    html = response.text
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html)
    assert any(asset.endswith(".js") for asset in assets), assets
    assert "cdn" not in html.lower()
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        served = await api.anonymous.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    spec = await api.anonymous.get("/openapi.json")
    assert spec.json()["info"]["title"] == "Tierline"
