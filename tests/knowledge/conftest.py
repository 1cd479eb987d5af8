"""The knowledge base over the running API the API tests use, one token per user."""

from __future__ import annotations

from tests.api.conftest import api, catalog_dir, worker_settings  # noqa: F401
