"""The development mail catcher: `python -m mail.catcher`, an SMTP server on
MAIL_CATCHER_HOST:MAIL_CATCHER_PORT (127.0.0.1:1025) that accepts every message and keeps
it under `VAR_DIR/mail/outbox/` instead of delivering it, so the embedded stack's mail
goes somewhere a person can read it (`tierline mail list`, `tierline mail show`).

Each message is two files named by its number, in order of arrival: `000007.json`, its
envelope (sender, recipients, when, from which peer), and `000007.eml`, the message as
received. Each is written under a temporary name and renamed, the envelope first, so a
message whose `.eml` is there is there whole. A number is taken by creating its `.json`
exclusively, so two catchers sharing a directory never take the same one.

aiosmtpd is imported only to serve: reading the outbox (the CLI) costs nothing more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

log = logging.getLogger("tierline.mail.catcher")

_NAME = re.compile(r"^([0-9]+)\.(eml|json)$")


@dataclass(frozen=True)
class CaughtMail:
    """One kept message: its number, envelope and file."""

    number: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    path: Path

    def raw(self) -> bytes:
        return self.path.read_bytes()

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Outbox:
    """The directory of caught mail."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._next = 0

    def keep(
        self, content: bytes, mail_from: str, rcpt_tos: list[str], peer: str | None = None
    ) -> CaughtMail:
        """Store one message under the next free number; returns it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        received_at = datetime.now(UTC)
        number = self._next or self._last_number() + 1
        while True:
            envelope = self.directory / f"{number:06d}.json"
            try:
                os.close(os.open(envelope, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                break
            except FileExistsError:
                number += 1
        self._next = number + 1
        record = {
            "number": number,
            "received_at": received_at.isoformat(),
            "mail_from": mail_from,
            "rcpt_tos": rcpt_tos,
            "peer": peer,
            "size": len(content),
        }
        _write_atomically(envelope, json.dumps(record, indent=2).encode() + b"\n")
        path = envelope.with_suffix(".eml")
        _write_atomically(path, content)
        return CaughtMail(number, received_at, mail_from, tuple(rcpt_tos), path)

    def messages(self) -> list[CaughtMail]:
        """Every message kept whole, in order of arrival."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            name = _NAME.match(path.name)
            if name and name.group(2) == "eml":
                found.append(self._read(int(name.group(1)), path))
        return sorted(found, key=lambda mail: mail.number)

    def get(self, number: int) -> CaughtMail | None:
        path = self.directory / f"{number:06d}.eml"
        return self._read(number, path) if path.is_file() else None

    def _last_number(self) -> int:
        if not self.directory.is_dir():
            return 0
        numbers = [int(m.group(1)) for p in self.directory.iterdir() if (m := _NAME.match(p.name))]
        return max(numbers, default=0)

    @staticmethod
    def _read(number: int, path: Path) -> CaughtMail:
        try:
            envelope: dict[str, Any] = json.loads(path.with_suffix(".json").read_bytes())
            received_at = datetime.fromisoformat(envelope["received_at"])
            return CaughtMail(
                number,
                received_at,
                str(envelope["mail_from"]),
                tuple(str(r) for r in envelope["rcpt_tos"]),
                path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            # An envelope lost or edited by hand: the file's own time, senders unknown.
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return CaughtMail(number, modified, "", (), path)


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


class Catcher:
    """aiosmtpd's handler: every message is kept, none delivered."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        peer = session.peer
        try:
            caught = self.outbox.keep(
                content,
                envelope.mail_from or "",
                [str(r) for r in envelope.rcpt_tos],
                f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else None,
            )
        except OSError as err:
            log.error("message from %s not kept: %s", envelope.mail_from, err)
            return "451 4.3.0 Could not keep the message; try again later"
        log.info(
            "caught message %d from %s to %s", caught.number, caught.mail_from, caught.rcpt_tos
        )
        return f"250 2.0.0 OK: kept as message {caught.number}"


async def listen(outbox: Outbox, host: str, port: int) -> asyncio.Server:
    """Start the catcher on `host:port` (port 0: any free port); returns its server."""
    from aiosmtpd.smtp import SMTP

    handler = Catcher(outbox)
    # A fixed hostname: aiosmtpd would otherwise ask the resolver for this machine's name.
    return await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="localhost", ident="Tierline catcher"),
        host=host,
        port=port,
    )


async def main() -> None:
    from settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd logs every SMTP command at INFO: the console keeps Tierline's own lines.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command
    settings = get_settings()
    host, port = settings.mail_catcher_host, settings.mail_catcher_port
    try:
        server = await listen(Outbox(settings.mail_outbox), host, port)
    except OSError as err:
        raise SystemExit(f"mail catcher: cannot listen on {host}:{port}: {err.strerror}") from None
    log.info(
        "mail catcher listening on %s:%d, keeping mail in %s", host, port, settings.mail_outbox
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
