"""Benchmark: cases opened by e-mail through the SMTP gateway, side by side with the same
opens through `POST /cases`, in one run.

Run with `.venv/bin/python bench/email.py` (`--quick` for a short run). It starts the
embedded stack's pieces the way `bench/api.py` does, in a temporary directory: a dev
server (SQLite file in WAL mode, the flags `tierline run` uses), the Tierline worker
(`worker.py`), the API (`uvicorn api.app:app`, SQLite read model), the development mail
catcher (`python -m mail.catcher`, where the worker's acknowledgements go, as under `make
run`) and the mail gateway (`python -m mail.gateway` on INBOUND_SMTP_PORT, same
environment, MAIL_HOURLY_LIMIT high enough never to bite). `--concurrency` organisations
on `us-software-002:enterprise` (no incident quota) are created through the API, each
with one contact address; lane k of either side opens cases for organisation k as its
contact, so both sides send the same acknowledgements.

- mail: each lane holds one SMTP connection and sends one mail at a time (distinct
  Message-ID, a `Severity:` line); its latency runs from just before `DATA` until
  `GET /cases/{n}` answers 200. The case number comes from the mail's `inbound_mail`
  row, which the gateway fills in just after the case is opened and projected: the bench
  polls that table (one query by primary key every `--poll-ms` for all mails in flight,
  on its own SQLite connection), then asks the API, so a latency may end a poll late,
  never early. Polling `GET /cases?q=` for a word of the subject instead would put a
  text search per mail and poll on the API, on the two cores it shares with everything
  measured;
- api: each lane sends one `POST /cases` at a time; its latency runs from the request
  to the answer, which carries the opened case, already in the read model.

A lane sends its next open once its last one is visible, so both sides have the same
`--concurrency` opens in flight. The sides alternate over `--rounds` rounds after a
warm-up (the first side changes each round); a side's rate is its opens over its rounds'
wall time (mail: from the first `DATA` to the last case visible). Progress goes to
stderr; the last line printed is one JSON object.
"""

# ruff: noqa: E402 (imports after the path is fixed, below)
from __future__ import annotations

import os
import sys

# Run as a script, the project root must be importable (`bench.api`, the product).
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT_DIR not in sys.path:
    sys.path.insert(0, ROOT_DIR)

import argparse
import asyncio
import contextlib
import json
import signal
import smtplib
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.api import (
    Child,
    Http,
    RunsChildren,
    catalogs,
    cpu_pressure,
    expect,
    free_port,
    machine,
    ms,
    peak_rss_mib,
    percentile,
    progress,
    ratio,
    start_server,
    wait_for_health,
)

PLAN = "us-software-002:enterprise"  # 24x7, no incident quota
SEVERITIES = ("high", "medium", "low")
GOAL = {"rate_ratio_min": 0.8}
AGENT = "bench-agent"
RECIPIENT = "support@tierline.example"


def organisation(lane: int) -> str:
    return f"mailer-{lane}"


def contact(lane: int) -> str:
    return f"contact-{lane}@mailer-{lane}.example"


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack(RunsChildren):
    """The dev server, the worker, the API, the mail catcher and the mail gateway."""

    workdir: Path
    api_url: str
    smtp_port: int
    database: Path
    outbox: Path
    children: dict[str, Child]


@contextlib.contextmanager
def stack(keep: bool) -> Iterator[Stack]:
    """Every process the bench needs, stopped (newest first) on the way out, whatever
    happened."""
    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
        workdir = Path(tempfile.mkdtemp(prefix="bench-email-")) if keep else Path(tmp)
        children: dict[str, Child] = {}
        try:
            server, address = start_server(workdir, [])
            children["server"] = server
            database = workdir / "read-model.db"
            catcher_port, smtp_port = free_port(), free_port()
            env = {
                **os.environ,
                "PYTHONPATH": ROOT_DIR,
                "TEMPORAL_ADDRESS": address,
                # A cluster address: the worker and the API refuse the default secret.
                "WEBHOOK_SECRET": "bench",
                # Metrics served as under `make run`, on ports no other run holds.
                "WORKER_METRICS_PORT": str(free_port()),
                "MAIL_METRICS_PORT": str(free_port()),
                "TEMPORAL_TASK_QUEUE": "bench-tierline",
                "DATABASE_URL": f"sqlite:///{database}",
                "VAR_DIR": str(workdir / "var"),
                "CATALOG_DIR": str(catalogs(workdir / "catalogs")),
                # Outbound mail goes to the catcher, as under `make run`.
                "MAIL_CATCHER_HOST": "127.0.0.1",
                "MAIL_CATCHER_PORT": str(catcher_port),
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(catcher_port),
                "INBOUND_SMTP_HOST": "127.0.0.1",
                "INBOUND_SMTP_PORT": str(smtp_port),
                # Each lane's contact sends every one of its mails within the hour.
                "MAIL_HOURLY_LIMIT": "1000000",
            }
            catcher_command = [sys.executable, "-m", "mail.catcher"]
            catcher = Child("mail catcher", catcher_command, workdir / "catcher.log", env)
            children["catcher"] = catcher
            catcher.wait_for_log("mail catcher listening", timeout=30)
            worker = Child("worker", [sys.executable, "worker.py"], workdir / "worker.log", env)
            children["worker"] = worker
            worker.wait_for_log("worker polling", timeout=60)
            port = free_port()
            uvicorn = [
                *(sys.executable, "-m", "uvicorn", "api.app:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ]
            api = Child("api", uvicorn, workdir / "api.log", env)
            children["api"] = api
            api_url = f"http://127.0.0.1:{port}"
            wait_for_health(api_url, api, timeout=60)
            # After the API, which has created the read model's schema by then.
            gateway_command = [sys.executable, "-m", "mail.gateway"]
            gateway = Child("gateway", gateway_command, workdir / "gateway.log", env)
            children["gateway"] = gateway
            gateway.wait_for_log("mail gateway listening", timeout=60)
            outbox = workdir / "var" / "mail" / "outbox"
            yield Stack(workdir, api_url, smtp_port, database, outbox, children)
        finally:
            # A second Ctrl-C or SIGTERM must not cut the stopping short (each child gets
            # 20 s to stop, then is killed).
            previous = {
                signum: signal.signal(signum, signal.SIG_IGN)
                for signum in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                for child in reversed(children.values()):
                    child.stop()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)


async def agent_token(running: Stack, lanes: int) -> str:
    """One organisation per lane, each with one contact address, and an agent's token."""
    admin_token = (running.workdir / "var" / "admin-token").read_text().strip()
    admin = Http(running.api_url, admin_token, connections=1)
    try:
        for lane in range(lanes):
            body = {
                "id": organisation(lane),
                "name": f"Mailer {lane} Ltd",
                "plan": PLAN,
                "contact_emails": [contact(lane)],
            }
            expect(await admin.post("/organisations", json=body), 201)
        agent = {"id": AGENT, "name": "Bench Agent", "role": "agent", "tiers": [1, 2, 3]}
        expect(await admin.post("/users", json=agent), 201)
        issued = expect(await admin.post(f"/users/{AGENT}/tokens", json={"label": "bench"}), 201)
    finally:
        await admin.close()
    token: str = issued["token"]
    return token


# --------------------------------------------------------------------------- the opens


def title(index: int) -> str:
    return f"Bench open {index}: export stalls"


def details(index: int) -> str:
    return (
        f"Opened by bench/mail_gateway.py (open {index}) to time the e-mail door against the API; "
        "nobody works on it."
    )


def severity(index: int) -> str:
    return SEVERITIES[index % len(SEVERITIES)]


def case_body(lane: int, index: int) -> dict[str, Any]:
    return {
        "organisation": organisation(lane),
        "company_name": f"Mailer {lane} Ltd",
        "contact": {"name": f"Contact {lane}", "email": contact(lane)},
        "title": title(index),
        "details": details(index),
        "severity": severity(index),
    }


def case_mail(lane: int, index: int, run: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Contact {lane} <{contact(lane)}>"
    message["To"] = RECIPIENT
    message["Subject"] = title(index)
    message["Message-ID"] = f"<bench-{run}-{index}@mailer-{lane}.example>"
    message.set_content(f"{details(index)}\n\nSeverity: {severity(index)}\n")
    return message


@dataclass
class Side:
    """Latencies, wall time, CPU and errors of one side, over its rounds."""

    name: str
    door: str  # "mail" or "api"
    latency: str = ""
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    numbers: list[int] = field(default_factory=list)
    # The mail side only: DATA to the gateway's 250, and the mails' ids.
    accepted: list[float] = field(default_factory=list)
    mail_ids: list[int] = field(default_factory=list)

    def failed(self, err: BaseException) -> None:
        self.errors[f"{type(err).__name__}: {err}"[:200]] += 1

    def summary(self) -> dict[str, Any]:
        wall = self.seconds
        return {
            "count": len(self.latencies),
            "errors": sum(self.errors.values()),
            "per_s": round(len(self.latencies) / wall, 2) if wall else None,
            "p50_ms": ms(percentile(self.latencies, 0.50)),
            "p99_ms": ms(percentile(self.latencies, 0.99)),
            "max_ms": ms(max(self.latencies, default=None)),
            "seconds": round(wall, 2),
            "latency": self.latency,
            "cpu_cores": {name: round(used / wall, 2) for name, used in self.cpu.items()}
            if wall
            else {},
            "cpu_ms_per_open": {
                name: round(used * 1000 / len(self.latencies), 1) for name, used in self.cpu.items()
            }
            if self.latencies
            else {},
        }


class MailFailed(Exception):
    pass


class Mailbox:
    """Watches the read model's `inbound_mail` rows of the mails in flight: one query every
    `poll` seconds for all of them, answering each mail's waiter once it is processed."""

    def __init__(self, database: Path, poll: float) -> None:
        self._db = sqlite3.connect(database, timeout=10)
        self._poll = poll
        self._waiting: dict[int, asyncio.Future[tuple[str, int | None, str | None]]] = {}

    async def processed(self, mail_id: int) -> tuple[str, int | None, str | None]:
        """The mail's status, case number and reason once it is no longer `received`."""
        waiter = self._waiting.setdefault(mail_id, asyncio.get_running_loop().create_future())
        return await waiter

    async def watch(self) -> None:
        while True:
            if self._waiting:
                ids = list(self._waiting)
                try:
                    rows = self._db.execute(
                        "SELECT id, status, case_number, reason FROM inbound_mail"
                        f" WHERE status != 'received' AND id IN ({','.join('?' * len(ids))})",
                        ids,
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = []  # busy: the next poll asks again
                for mail_id, status, number, reason in rows:
                    waiter = self._waiting.pop(mail_id)
                    if not waiter.done():
                        waiter.set_result((status, number, reason))
            await asyncio.sleep(self._poll)

    def rows(self, ids: list[int]) -> list[tuple[int, str, str]]:
        """Each mail's id, and when the gateway recorded and finished it."""
        return self._db.execute(
            "SELECT id, received_at, processed_at FROM inbound_mail"
            f" WHERE id IN ({','.join('?' * len(ids))}) ORDER BY processed_at",
            ids,
        ).fetchall()

    def recorded(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM inbound_mail").fetchone()[0]
        return count

    def close(self) -> None:
        self._db.close()


@dataclass
class Lanes:
    """What both sides share: the stack, the API client, the mails' watcher."""

    args: argparse.Namespace
    running: Stack
    http: Http
    mailbox: Mailbox
    run: str
    next_index: int = 0

    def indexes(self, count: int) -> Iterator[int]:
        """Open numbers shared by a round's lanes, each taken once."""
        first = self.next_index
        self.next_index += count
        return iter(range(first, first + count))

    async def visible(self, side: Side, number: int, index: int) -> None:
        view = expect(await self.http.get(f"/cases/{number}"), 200)
        found = view["details"]["title"], view["details"]["channel"]
        if found != (title(index), "email"):
            raise MailFailed(f"case {number} is {found}, not mail {index}'s")
        side.numbers.append(number)

    async def api_lane(self, side: Side, lane: int, indexes: Iterator[int]) -> tuple[float, float]:
        first = last = None
        for index in indexes:
            began = time.perf_counter()
            first = began if first is None else first
            try:
                answer = await self.http.post("/cases", json=case_body(lane, index))
                view = expect(answer, 201)
            except Exception as err:
                side.failed(err)
            else:
                last = time.perf_counter()
                side.latencies.append(last - began)
                side.numbers.append(view["number"])
        return first or 0.0, last or 0.0

    async def mail_lane(self, side: Side, lane: int, indexes: Iterator[int]) -> tuple[float, float]:
        first = last = None
        # A fixed local name: smtplib would otherwise ask the resolver for this machine's.
        smtp = await asyncio.to_thread(
            smtplib.SMTP, "127.0.0.1", self.running.smtp_port, "bench.localhost", 60
        )
        try:
            await asyncio.to_thread(smtp.ehlo)
            for index in indexes:
                raw = case_mail(lane, index, self.run).as_bytes()
                try:
                    began, accepted, mail_id = await asyncio.to_thread(
                        send, smtp, contact(lane), raw
                    )
                except (smtplib.SMTPException, OSError) as err:
                    side.failed(err)
                    break  # the connection is gone: the other lanes take the rest
                except MailFailed as err:
                    side.failed(err)
                    continue
                first = began if first is None else first
                side.accepted.append(accepted - began)
                side.mail_ids.append(mail_id)
                try:
                    async with asyncio.timeout(self.args.timeout):
                        status, number, reason = await self.mailbox.processed(mail_id)
                    if status != "applied" or number is None:
                        raise MailFailed(f"mail {mail_id} {status}: {reason}")
                    await self.visible(side, number, index)
                except Exception as err:
                    side.failed(err)
                else:
                    last = time.perf_counter()
                    side.latencies.append(last - began)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                await asyncio.to_thread(smtp.quit)
        return first or 0.0, last or 0.0


def send(smtp: smtplib.SMTP, sender: str, raw: bytes) -> tuple[float, float, int]:
    """One mail over an open connection, as an MTA delivers it; returns when DATA began,
    when the gateway's 250 came, and the mail's id from that answer."""
    code, answer = smtp.mail(sender, [f"SIZE={len(raw)}"])
    if code != 250:
        raise MailFailed(f"MAIL FROM: {code} {answer.decode(errors='replace')}")
    code, answer = smtp.rcpt(RECIPIENT)
    if code != 250:
        raise MailFailed(f"RCPT TO: {code} {answer.decode(errors='replace')}")
    began = time.perf_counter()
    code, answer = smtp.data(raw)
    accepted = time.perf_counter()
    text = answer.decode(errors="replace")
    # "250 2.0.0 OK: recorded as mail 17"; "already recorded" would be a repeated Message-ID.
    if code != 250 or "already" in text:
        raise MailFailed(f"DATA: {code} {text}")
    return began, accepted, int(text.rsplit(" ", 1)[-1])


async def measure(lanes: Lanes, side: Side, count: int) -> None:
    """`count` opens over `--concurrency` lanes, one at a time per lane."""
    running = lanes.running
    indexes = lanes.indexes(count)
    run_lane = lanes.mail_lane if side.door == "mail" else lanes.api_lane
    cpu_before = running.cpu()
    done_before = len(side.latencies)
    spans = await asyncio.gather(
        *(run_lane(side, lane, indexes) for lane in range(lanes.args.concurrency)),
        return_exceptions=True,
    )
    cpu_after = running.cpu()
    for span in spans:
        if isinstance(span, BaseException):
            side.failed(span)
    begun = [span[0] for span in spans if isinstance(span, tuple) and span[0]]
    ended = [span[1] for span in spans if isinstance(span, tuple) and span[1]]
    elapsed = max(ended) - min(begun) if begun and ended else 0.0
    side.seconds += elapsed
    for name, used in cpu_after.items():
        side.cpu[name] = side.cpu.get(name, 0.0) + used - cpu_before[name]
    done = len(side.latencies) - done_before
    rate = f"{done / elapsed:.1f}/s" if elapsed else "-"
    progress(f"{side.name}: {done} in {elapsed:.1f} s ({rate})")
    running.check()


# --------------------------------------------------------------------------- analysis


def gateway_times(rows: list[tuple[int, str, str]]) -> dict[str, Any]:
    """What the gateway's rows tell of its work. It processes mails one at a time, in
    order: a mail's processing began when it was recorded or when the one before it was
    finished, whichever came later, so its time in the gateway splits into waiting and
    processing. Rounds are apart, so a gap between rounds is never counted as waiting."""
    processing, waiting = [], []
    previous_end: datetime | None = None
    for _, received, processed in rows:
        if processed is None:
            continue
        received_at = datetime.fromisoformat(received)
        processed_at = datetime.fromisoformat(processed)
        began = max(received_at, previous_end) if previous_end else received_at
        processing.append((processed_at - began).total_seconds())
        waiting.append((began - received_at).total_seconds())
        previous_end = processed_at
    mean = sum(processing) / len(processing) if processing else None
    return {
        "processing_p50_ms": ms(percentile(processing, 0.50)),
        "processing_p99_ms": ms(percentile(processing, 0.99)),
        "processing_mean_ms": ms(mean),
        "waiting_p50_ms": ms(percentile(waiting, 0.50)),
        "waiting_p99_ms": ms(percentile(waiting, 0.99)),
        # One mail at a time: the most mails a second this gateway could process.
        "ceiling_per_s": round(1 / mean, 2) if mean else None,
    }


def caught(outbox: Path) -> int:
    return len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0


async def acknowledgements(outbox: Path, expected: int, within: float) -> int:
    """Acknowledgements the catcher kept, waiting up to `within` seconds for all."""
    deadline = time.monotonic() + within
    while True:
        kept = await asyncio.to_thread(caught, outbox)
        if kept >= expected or time.monotonic() > deadline:
            return kept
        await asyncio.sleep(0.5)


# --------------------------------------------------------------------------- the run


async def run_sides(args: argparse.Namespace, running: Stack) -> dict[str, Any]:
    token = await agent_token(running, args.concurrency)
    http = Http(running.api_url, token, args.concurrency * 2 + 4)
    mailbox = Mailbox(running.database, args.poll_ms / 1000)
    watcher = asyncio.create_task(mailbox.watch())
    lanes = Lanes(args, running, http, mailbox, run=f"{os.getpid()}-{int(time.time())}")
    mail = Side("mail", "mail", "from just before SMTP DATA to GET /cases/{n} answering 200")
    api = Side("api", "api", "from the request to POST /cases's answer (the case, already visible)")
    try:
        # Warm both sides up (imports, connections, caches); not counted.
        warm_mail, warm_api = Side("mail (warm-up)", "mail"), Side("api (warm-up)", "api")
        for warm in (warm_mail, warm_api):
            await measure(lanes, warm, args.concurrency * 2)
        per_round = max(1, args.mails // args.rounds)
        for number in range(args.rounds):
            for side in (mail, api) if number % 2 == 0 else (api, mail):
                await measure(lanes, side, per_round)
        mail.errors.update(warm_mail.errors)
        api.errors.update(warm_api.errors)
        # Every case the API side opened, read back (the mail side's were, as measured).
        read_back_failures = 0
        for number in api.numbers:
            answer = await http.get(f"/cases/{number}")
            if answer.status_code != 200 or answer.json()["number"] != number:
                read_back_failures += 1
        opened = lanes.next_index
        acknowledged = await acknowledgements(running.outbox, opened, within=30)
        gateway = gateway_times(mailbox.rows(mail.mail_ids)) if mail.mail_ids else {}
        gateway["mails_accepted"] = len(warm_mail.mail_ids) + len(mail.mail_ids)
        gateway["mails_recorded"] = mailbox.recorded()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        mailbox.close()
        await http.close()
    return {
        "mail": mail,
        "api": api,
        "gateway": gateway,
        "read_back_failures": read_back_failures,
        "opened": opened,
        "acknowledgements": acknowledged,
    }


def report(args: argparse.Namespace, host: dict[str, Any], result: dict[str, Any]) -> None:
    mail, api = result["mail"].summary(), result["api"].summary()
    accepted = result["mail"].accepted
    gateway = {
        "data_to_250_p50_ms": ms(percentile(accepted, 0.50)),
        "data_to_250_p99_ms": ms(percentile(accepted, 0.99)),
        **result["gateway"],
    }
    if result["mail"].latencies:
        gateway["cpu_ms_per_mail"] = mail["cpu_ms_per_open"].get("gateway")
    rate_ratio = ratio(mail["per_s"], api["per_s"])
    met = {
        "rate_ratio": rate_ratio is not None and rate_ratio >= GOAL["rate_ratio_min"],
        "no_errors": not (mail["errors"] or api["errors"] or result["read_back_failures"])
        and gateway.get("mails_recorded") == gateway.get("mails_accepted"),
    }
    print(
        f"machine: {host['cpu']}, {host['cpu_count']} CPUs, {host['memory']}; "
        f"at start {host['at_start']}, at end {host['at_end']}"
    )
    print(f"  {host['platform']}, Python {host['python']}, SQLite {host['sqlite']}")
    print(
        f"\n{args.mails} opens per side in {args.rounds} rounds, "
        f"{args.concurrency} in flight per side"
    )
    for side in (mail, api):
        print(
            f"  {side['latency']}:\n    {side['per_s']}/s, p50 {side['p50_ms']} ms, "
            f"p99 {side['p99_ms']} ms, {side['errors']} errors; cores {side['cpu_cores']}"
        )
    print(f"  gateway: {gateway}")
    print(
        f"  rate ratio mail/api {rate_ratio} (goal >= {GOAL['rate_ratio_min']}); "
        f"{result['read_back_failures']} API cases failed to read back; "
        f"{result['acknowledgements']} acknowledgements caught for {result['opened']} opens"
    )
    for side in (result["mail"], result["api"]):
        for error, count in side.errors.most_common(3):
            print(f"  {side.name}: {count} x {error}")
    print(f"\npeak RSS MiB: {result['peak_rss_mib']}")
    print(f"goal {GOAL}: met {met}")
    print(
        json.dumps(
            {
                "machine": host,
                "params": {
                    "mails": args.mails,
                    "concurrency": args.concurrency,
                    "rounds": args.rounds,
                    "poll_ms": args.poll_ms,
                    "plan": PLAN,
                },
                "mail": mail,
                "api": api,
                "gateway": gateway,
                "rate_ratio": rate_ratio,
                "api_read_back_failures": result["read_back_failures"],
                "acknowledgements_caught": result["acknowledgements"],
                "opens_total": result["opened"],
                "peak_rss_mib": result["peak_rss_mib"],
                "goal": GOAL,
                "met": met,
            }
        )
    )


def main(args: argparse.Namespace) -> None:
    host = {
        **machine(),
        "aiosmtpd": metadata.version("aiosmtpd"),
        "at_start": cpu_pressure(),
    }
    # The stack is outside the event loop: however the run ends (an error, Ctrl-C, a
    # SIGTERM, which is made to unwind like Ctrl-C), its processes are stopped on the way
    # out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with stack(args.keep_workdir) as running:
        result = asyncio.run(run_sides(args, running))
        result["peak_rss_mib"] = {
            name: peak_rss_mib(child.pid) for name, child in running.children.items()
        }
        if args.keep_workdir:
            print(f"logs and databases kept in {running.workdir}")
    host["at_end"] = cpu_pressure()
    report(args, host, result)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to try the bench out")
    parser.add_argument("--mails", type=int, help="opens per side (default 300; quick 48)")
    parser.add_argument("--concurrency", type=int, default=4, help="opens in flight per side")
    parser.add_argument("--rounds", type=int, help="rounds the sides alternate in (4; quick 2)")
    parser.add_argument(
        "--poll-ms", type=float, default=10, help="how often the bench reads inbound_mail"
    )
    parser.add_argument(
        "--timeout", type=float, default=120, help="seconds a mail may take to become a case"
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the logs and databases in a temporary directory for a post-mortem",
    )
    args = parser.parse_args()
    defaults = {"mails": 48, "rounds": 2} if args.quick else {"mails": 300, "rounds": 4}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    main(parse_args())
