"""The inbound SMTP gateway: `python -m mail.gateway`, on INBOUND_SMTP_HOST:INBOUND_SMTP_PORT.

`make run` starts it beside the API; in production it runs as a process of its own behind
the organisation's MTA (a compose service). Each mail is recorded in the read model before
the gateway answers `250`, then processed in the background (`mail.intake`); mails a crash
left recorded but unprocessed are processed when the gateway starts again. A mail over
MAIL_MAX_BYTES is refused with `552` before it is read (the limit is announced in EHLO's
SIZE, so most clients refuse it themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mail.intake import MailIntake, parse, record, sender_of
from mail.parse import InboundMail
from observability import logs, metrics, tracing
from observability.metrics import mail_received

log = logging.getLogger("tierline.mail")
# A recorded mail waiting to be processed: its id, its sender, and what the gateway read
# of it when it came (None for one a crash left behind).
Queued = tuple[int, str, InboundMail | None]


class GatewayHandler:
    """aiosmtpd's handler: keeps each mail, then hands it to the intake's queue."""

    def __init__(self, intake: MailIntake, queue: asyncio.Queue[Queued]) -> None:
        self.intake = intake
        self.queue = queue

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        recipients = [str(r) for r in envelope.rcpt_tos]
        parsed = parse(raw, self.intake.settings)
        try:
            mail_id, new = await asyncio.to_thread(
                record, self.intake.engine, raw, sender, recipients, parsed
            )
        except Exception:
            log.exception("mail from %s could not be recorded", sender)
            mail_received.labels("deferred").inc()
            # Not recorded, so not accepted: the sending MTA keeps it and tries again.
            return "451 4.3.0 Could not store the message; try again later"
        mail_received.labels("accepted" if new else "duplicate").inc()
        if new:
            self.queue.put_nowait((mail_id, sender_of(parsed, sender), parsed))
            return f"250 2.0.0 OK: recorded as mail {mail_id}"
        return f"250 2.0.0 OK: already recorded as mail {mail_id}"


class Lanes:
    """One lock per sender, so a sender's mails are processed in the order they came (a
    reply never overtakes the mail that opened its case) while other senders' mails are
    processed beside them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._queued: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def of(self, sender: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(sender, asyncio.Lock())
        self._queued[sender] += 1
        try:
            async with lock:
                yield
        finally:
            self._queued[sender] -= 1
            if not self._queued[sender]:
                del self._queued[sender], self._locks[sender]


async def work(intake: MailIntake, queue: asyncio.Queue[Queued], lanes: Lanes) -> None:
    """Process recorded mails as they come; each sender's in order."""
    while True:
        mail_id, sender, parsed = await queue.get()
        try:
            # Taken before any await: the next mail of this sender queues behind this one.
            async with lanes.of(sender):
                await intake.process(mail_id, parsed)
        finally:
            queue.task_done()


async def serve(intake: MailIntake, host: str, port: int) -> tuple[asyncio.Server, Any]:
    """Listen for mail and start processing (MAIL_WORKERS mails at once); returns the
    server and the task that processes."""
    queue: asyncio.Queue[Queued] = asyncio.Queue()
    for mail_id, sender in await asyncio.to_thread(intake.pending):
        queue.put_nowait((mail_id, sender, None))
    handler = GatewayHandler(intake, queue)
    limit = intake.settings.mail_max_bytes
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=limit, hostname="tierline", ident="Tierline"),
        host=host,
        port=port,
    )
    lanes = Lanes()

    async def processing() -> None:
        workers = intake.settings.mail_workers
        await asyncio.gather(*(work(intake, queue, lanes) for _ in range(workers)))

    return server, asyncio.create_task(processing())


async def main() -> None:
    from api.limits import KeyedLimiter
    from db.read_model import create_schema, make_engine
    from policies.loading import load_catalogs
    from runtime import connect, pin_time_zone_data
    from settings import get_settings

    pin_time_zone_data()
    settings = get_settings()
    logs.configure(settings, "mail-gateway")
    tracing.configure(settings, "tierline-mail-gateway")
    # aiosmtpd logs every SMTP command at INFO: the console keeps Tierline's own lines.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    settings.check_for_production()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    client = await connect(settings)
    intake = MailIntake(
        engine, client, settings, load_catalogs(settings.catalog_dir), KeyedLimiter()
    )
    server, worker = await serve(intake, settings.inbound_smtp_host, settings.inbound_smtp_port)
    metrics.serve(settings.mail_metrics_host, settings.mail_metrics_port)
    log.info(
        "mail gateway listening on %s:%s%s",
        settings.inbound_smtp_host,
        settings.inbound_smtp_port,
        f"; metrics on http://{settings.mail_metrics_host}:{settings.mail_metrics_port}/metrics"
        if settings.mail_metrics_port
        else "",
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    worker.cancel()
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
