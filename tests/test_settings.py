"""Settings refuse what is unsafe outside the embedded stack, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from settings import ROOT, RefusedToStart, Settings

CLUSTER = "temporal.example:7233"


@pytest.mark.parametrize("secret", ["change-me", "", "  "])
def test_a_cluster_with_the_default_or_no_webhook_secret_is_refused(secret: str) -> None:
    settings = Settings(_env_file=None, temporal_address=CLUSTER, webhook_secret=secret)
    with pytest.raises(RefusedToStart, match="WEBHOOK_SECRET"):
        settings.check_for_production()


def test_a_cluster_with_a_secret_of_its_own_starts() -> None:
    Settings(
        _env_file=None, temporal_address=CLUSTER, webhook_secret="s3cr3t"
    ).check_for_production()


def test_the_embedded_stack_starts_with_the_default_secret() -> None:
    settings = Settings(_env_file=None)
    assert settings.embedded and settings.webhook_secret == "change-me"
    settings.check_for_production()


def test_the_api_refuses_before_it_serves() -> None:
    with pytest.raises(RefusedToStart, match="WEBHOOK_SECRET"):
        create_app(Settings(_env_file=None, temporal_address=CLUSTER))


@pytest.mark.parametrize(
    "command",
    [["-m", "worker"], ["-m", "uvicorn", "api.app:app", "--port", "0"]],
    ids=["worker", "api"],
)
@pytest.mark.parametrize("secret", [None, "", "change-me"], ids=["unset", "empty", "default"])
def test_worker_and_api_exit_with_one_line_naming_the_secret(
    command: list[str], secret: str | None, tmp_path: Path
) -> None:
    # An unreachable cluster: the refusal must come before any connection is tried.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"WEBHOOK_SECRET", "TEMPORAL_ADDRESS"}
    }
    env |= {"PYTHONPATH": str(ROOT), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    if secret is not None:
        env["WEBHOOK_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tierline: refusing to start: WEBHOOK_SECRET"), lines[0]


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ({"public_url": "https://support.example.com"}, "https://support.example.com"),
        (
            {"public_url": "https://support.example.com", "temporal_address": CLUSTER},
            "https://support.example.com",
        ),
        ({}, "http://127.0.0.1:8000"),  # the embedded stack's own API
        ({"api_host": "0.0.0.0", "api_port": 9000}, "http://127.0.0.1:9000"),
        ({"api_host": "::1"}, "http://[::1]:8000"),
        ({"temporal_address": CLUSTER}, None),  # no request to take it from: no link
    ],
)
def test_where_links_in_mail_no_request_prompted_point(
    given: dict[str, object], base: str | None
) -> None:
    assert Settings(_env_file=None, **given).links_base == base  # type: ignore[arg-type]
