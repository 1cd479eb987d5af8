"""`tierline mail list` and `show` over what the catcher kept: a case's acknowledgement
sent by the real notifier over real SMTP into the catcher, read back from the outbox."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner, Result

from activities.notify import Notifier, message_id
from cli.main import app
from mail.catcher import Outbox, listen
from models.notifications import Notification
from settings import ROOT, get_settings
from tests.activities.test_acknowledgement import FRIDAY, opened

runner = CliRunner()
SOURCE = "CAFk9=x2.Ab@mail.acme.example"


def tierline(*args: str, outbox: Path | None = None) -> Result:
    where = ["--outbox", str(outbox)] if outbox else []
    return runner.invoke(app, ["mail", *args, *where], env={"COLUMNS": "200"})


@pytest.fixture
async def catcher(tmp_path: Path) -> AsyncIterator[tuple[Path, int]]:
    outbox = tmp_path / "outbox"
    server = await listen(Outbox(outbox), "127.0.0.1", 0)
    async with server:
        yield outbox, server.sockets[0].getsockname()[1]


async def deliver(engine: Engine, port: int, *notifications: Notification) -> None:
    notifier = Notifier(
        engine,
        smtp_host="127.0.0.1",
        smtp_port=port,
        sender="tierline@localhost",
        webhook_secret="s",
    )
    for notification in notifications:
        await asyncio.to_thread(ActivityEnvironment().run, notifier.deliver, notification)


async def test_the_acknowledgement_is_listed_and_shown(
    catcher: tuple[Path, int], sqlite_engine: Engine
) -> None:
    outbox, port = catcher
    sent = opened("eu-software-001:gold", FRIDAY, severity="sev1", source_message_id=SOURCE)
    ann, team = sent["ann@acme.example"], sent["support@vendor.example"]
    await deliver(sqlite_engine, port, ann, team)

    listed = tierline("list", outbox=outbox)
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if "[Case #12]" in line]
    assert len(rows) == 2
    assert "ann@acme.example" in rows[0] and "Received: Exports fail with a timeout" in rows[0]
    assert "support@vendor.example" in rows[1] and "Opened: Exports" in rows[1]

    as_json = tierline("list", "--json", outbox=outbox)
    first, second = json.loads(as_json.output)
    received = datetime.fromisoformat(first["received_at"])
    cells = [cell.strip() for cell in rows[0].split("│")]
    assert cells[1:3] == ["1", received.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")]
    assert (first["number"], second["number"]) == (1, 2)
    assert first["rcpt_tos"] == ["ann@acme.example"]
    assert first["mail_from"] == "tierline@localhost"
    assert first["subject"] == "[Case #12] Received: Exports fail with a timeout"
    assert first["message_id"] == message_id(ann.key)

    shown = tierline("show", "1", outbox=outbox)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "Subject: [Case #12] Received: Exports fail with a timeout" in lines
    assert f"In-Reply-To: <{SOURCE}>" in lines
    assert f"References: <{SOURCE}> <case-12@tierline>" in lines
    assert "Auto-Submitted: auto-generated" in lines
    assert "Envelope: from tierline@localhost to ann@acme.example" in lines
    assert "We will respond by Monday 7 December 2026, 16:00 (Europe/Berlin)." in shown.output
    assert "\r" not in shown.output

    raw = tierline("show", "1", "--raw", outbox=outbox)
    assert raw.exit_code == 0
    assert raw.stdout_bytes == (outbox / "000001.eml").read_bytes()


def test_an_empty_outbox_and_a_missing_message(tmp_path: Path) -> None:
    listed = tierline("list", outbox=tmp_path / "none")
    assert listed.exit_code == 0
    assert listed.output == f"No mail in {tmp_path / 'none'}.\n"
    assert json.loads(tierline("list", "--json", outbox=tmp_path).output) == []
    missing = tierline("show", "7", outbox=tmp_path)
    assert missing.exit_code == 1
    assert f"No message 7 in {tmp_path}" in missing.stderr


def test_the_outbox_is_the_settings_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        kept = Outbox(tmp_path / "mail" / "outbox")
        message = EmailMessage()
        message["Subject"] = "=?utf-8?q?Gr=C3=BC=C3=9Fe?="
        message.add_alternative("<p>Hello <b>there</b></p>", subtype="html")
        kept.keep(message.as_bytes(), "a@x.example", ["b@y.example"])
        listed = tierline("list")
        assert "Grüße" in listed.output and "a@x.example" in listed.output
        shown = tierline("show", "1")
        assert shown.output.rstrip().endswith("Hello there")
    finally:
        get_settings.cache_clear()


def test_the_command_line_stays_light() -> None:
    heavy = ("temporalio", "fastapi", "sqlalchemy", "aiosmtpd")
    code = f"import sys, cli.main; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
