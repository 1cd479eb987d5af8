"""The development mail catcher over real SMTP: every message kept whole under the outbox,
numbered in order of arrival, its envelope beside it; `python -m mail.catcher` serves on
its settings and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import subprocess
import sys
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mail.catcher import Outbox, listen
from settings import ROOT
from tests.conftest import free_port


def mail(subject: str, to: str = "ann@acme.example", body: str = "Hello.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "tierline@localhost"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash(subject))}@tierline>"
    message.set_content(body)
    return message


def send(port: int, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=to)


@pytest.fixture
async def catcher(tmp_path: Path) -> AsyncIterator[tuple[Outbox, int]]:
    """The catcher in this process, on a port the system picked."""
    outbox = Outbox(tmp_path / "var" / "mail" / "outbox")
    server = await listen(outbox, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield outbox, port


async def test_every_message_is_kept_whole_in_order_with_its_envelope(
    catcher: tuple[Outbox, int],
) -> None:
    outbox, port = catcher
    first = mail("[Case #1] Received: Exports fail", body="Grüße, the line\r\n.\r\nends.")
    await asyncio.to_thread(send, port, first)
    await asyncio.to_thread(send, port, mail("second"), ["ann@acme.example", "bob@acme.example"])
    for n in range(3, 12):
        await asyncio.to_thread(send, port, mail(f"message {n}"))

    names = sorted(p.name for p in outbox.directory.iterdir())
    assert names == [f"{n:06d}.{ext}" for n in range(1, 12) for ext in ("eml", "json")]
    kept = outbox.messages()
    assert [m.number for m in kept] == list(range(1, 12))
    assert [m.message()["Subject"] for m in kept[:2]] == [first["Subject"], "second"]
    assert kept[0].message()["Message-ID"] == first["Message-ID"]
    # As it came over the wire: CRLF line ends, the lone dot unstuffed.
    assert b"\r\n.\r\nends." in kept[0].raw()
    body = kept[0].message().get_body()
    assert body is not None and body.get_content() == "Grüße, the line\r\n.\r\nends.\r\n"
    envelope = json.loads((outbox.directory / "000002.json").read_text())
    assert envelope["mail_from"] == "tierline@localhost"
    assert envelope["rcpt_tos"] == ["ann@acme.example", "bob@acme.example"]
    assert envelope["size"] == kept[1].path.stat().st_size
    assert kept[0].received_at <= kept[1].received_at


async def test_numbers_carry_on_after_a_restart_and_skip_a_half_written_message(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "outbox"
    for _ in range(2):  # two runs of the catcher on one directory
        server = await listen(Outbox(directory), "127.0.0.1", 0)
        async with server:
            await asyncio.to_thread(send, server.sockets[0].getsockname()[1], mail("x"))
    # A crash left an envelope without its message, and a temporary file.
    (directory / "000003.json").write_text("{}")
    (directory / ".000003.eml.tmp").write_bytes(b"Subject: half")
    outbox = Outbox(directory)
    assert [m.number for m in outbox.messages()] == [1, 2]
    assert outbox.keep(b"Subject: y\r\n\r\ny\r\n", "a@x", ["b@x"]).number == 4
    assert outbox.get(3) is None and outbox.get(4) is not None


def test_two_outboxes_on_one_directory_never_take_the_same_number(tmp_path: Path) -> None:
    first, second = Outbox(tmp_path), Outbox(tmp_path)
    numbers = [box.keep(b"Subject: z\r\n\r\n", "a@x", ["b@x"]).number for box in (first, second)]
    numbers.append(first.keep(b"Subject: z\r\n\r\n", "a@x", ["b@x"]).number)
    assert numbers == [1, 2, 3]


async def test_a_message_that_cannot_be_kept_is_refused_for_a_retry(
    catcher: tuple[Outbox, int],
) -> None:
    outbox, port = catcher
    outbox.directory.parent.mkdir(parents=True)
    outbox.directory.write_text("a file where the directory should be")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, port, mail("lost?"))
    assert refused.value.smtp_code == 451


def test_python_m_mail_catcher_serves_its_settings_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "MAIL_CATCHER_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mail.catcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"mail catcher listening on 127.0.0.1:{port}" in line
        send(port, mail("[Case #3] Responded: Exports fail"))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    (caught,) = Outbox(tmp_path / "var" / "mail" / "outbox").messages()
    assert caught.message()["Subject"] == "[Case #3] Responded: Exports fail"
    assert "caught message 1 from tierline@localhost" in process.stdout.read()


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "VAR_DIR": str(tmp_path), "MAIL_CATCHER_PORT": str(port)}
    command = [sys.executable, "-m", "mail.catcher"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as first:
        try:
            assert first.stderr is not None
            first.stderr.readline()  # listening
            second = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
            )
        finally:
            first.terminate()
    assert second.returncode == 1
    assert (
        second.stderr.strip()
        .splitlines()[-1]
        .startswith(f"mail catcher: cannot listen on 127.0.0.1:{port}:")
    )
    assert "Traceback" not in second.stderr
