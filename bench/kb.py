"""Benchmark: knowledge-base search over 10,000 articles beside 100,000 cases, on SQLite
and on PostgreSQL, with the case search over the same cases as its peer, in one run.

Run with `.venv/bin/python bench/kb.py` (`--quick` for a short run; `--databases sqlite`
for one). For each database it starts the embedded stack's pieces the way
`bench/console.py` does (its `stack`), in a temporary directory: a dev server, the
Tierline worker and the API. The read model is a SQLite file there, or a fresh database
the bench creates on the PostgreSQL server of `--postgresql-url` (on this machine) and
drops afterwards.

- data: `--cases` synthetic cases (`bench/api.py`'s, each with a full case view, cloned
  from a case opened through `POST /cases`) and `--articles` synthetic articles written
  straight into the read model with the search index the API keeps (`db.knowledge`):
  Markdown of 120 to 600 words drawn from a support vocabulary with Zipf-like word
  frequencies, titles naming a component and a problem, spread over categories and
  visibilities (public, customers, plans, staff; a few drafts and archived ones). One
  more article goes through the API (`POST /kb/articles`, then publish) and must be
  found. PostgreSQL is then vacuumed and analysed, as autovacuum would have it.
- search: `GET /kb/search` as an anonymous reader, a customer (whose plan sees some
  `plans` articles) and an agent in turn, one request at a time, with queries drawn at
  random: one component word, a component and a problem word, a title being typed (its
  last word cut short: a prefix), a rare word, and a typed case title matching some of
  its words (`match=some`, how the portal suggests articles). The peer, in the same run
  and alternating sides: `GET /cases?q=<the query's first word>` over the cases, as the
  agent. p50/p99 per query kind and overall, and the API process's CPU per request.

Goal: search p99 under 50 ms on each database. Progress goes to stderr; the machine and
its load at start and end are reported. The last line printed is one JSON object.
"""

# ruff: noqa: E402 (imports after the path is fixed, below)
from __future__ import annotations

import os
import sys

# Run as a script, this directory comes first on the path, and `bench/api.py` would
# shadow the `api` package: the project root takes its place.
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [entry for entry in sys.path if entry != os.path.join(ROOT_DIR, "bench")]
if ROOT_DIR not in sys.path:
    sys.path.insert(0, ROOT_DIR)

import argparse
import asyncio
import json
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import insert
from sqlmodel import col

from bench.api import (
    COMPONENTS,
    DETAIL_WORDS,
    PROBLEMS,
    RARE,
    Answer,
    Http,
    UnexpectedResponse,
    bulk_insert,
    cpu_pressure,
    cpu_seconds,
    expect,
    machine,
    ms,
    peak_rss_mib,
    percentile,
    progress,
    ratio,
    synthetic_rows,
)
from bench.console import Stack, fresh_database, stack
from db.knowledge import KbArticle, KbArticleVersion, index_articles
from db.read_model import make_engine
from web.markdown import plain_text

PLAN = "us-software-002:enterprise"  # 24x7, no incident quota
OTHER_PLAN = "eu-software-001:gold"
GOAL = {"search_p99_ms_max": 50.0}
ORGANISATION = "bench"
AGENT = "bench-agent"
CUSTOMER = "bench-customer"
WARM_UP = 5
TAIL_WORDS = 3_000
DEFAULT_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/postgres"
CATEGORIES = (
    "getting-started", "accounts", "billing", "exports", "imports", "integrations",
    "security", "mobile", "reports", "administration", "troubleshooting", "releases",
)  # fmt: skip
VISIBILITY_SHARES = {"public": 0.40, "customers": 0.35, "plans": 0.10, "staff": 0.15}
STATUS_SHARES = {"published": 0.93, "draft": 0.05, "archived": 0.02}
SUPPORT_WORDS = (
    "account", "settings", "page", "admin", "user", "role", "permission", "token", "api",
    "request", "response", "timeout", "limit", "file", "csv", "excel", "row", "column",
    "field", "value", "date", "time", "zone", "language", "browser", "cache", "cookie",
    "session", "password", "reset", "link", "mail", "notification", "schedule", "job",
    "queue", "retry", "error", "message", "code", "status", "log", "trace", "network",
    "firewall", "connection", "server", "client", "install", "upgrade", "version", "patch",
    "release", "feature", "option", "menu", "button", "screen", "window", "tab", "filter",
    "sort", "page", "size", "memory", "disk", "space", "storage", "folder", "share",
    "team", "group", "member", "invite", "licence", "seat", "plan", "invoice", "payment",
    "card", "currency", "tax", "address", "contact", "phone", "company", "customer",
    "ticket", "case", "priority", "severity", "workaround", "fix", "cause", "step",
    "click", "open", "select", "choose", "enter", "save", "confirm", "cancel", "delete",
    "restore", "copy", "move", "rename", "download", "print", "preview", "template",
    "report", "chart", "widget", "dashboard", "metric", "alert", "threshold", "rule",
    "policy", "audit", "history", "backup", "restore", "sync", "device", "tablet", "app",
    "android", "ios", "windows", "linux", "mac", "proxy", "certificate", "domain", "dns",
    "webhook", "event", "payload", "signature", "key", "secret", "scope", "consent",
    "single", "sign", "directory", "ldap", "saml", "oauth", "mfa", "code", "device",
)  # fmt: skip
FILLER = (
    "the", "a", "to", "and", "of", "in", "is", "you", "your", "it", "for", "on", "that",
    "this", "with", "be", "can", "if", "when", "then", "from", "or", "not", "are", "as",
    "by", "at", "all", "new", "each", "once", "after", "before", "again", "first", "next",
)  # fmt: skip


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Words and Zipf-like weights: filler most often, then support words, then the
    components and problems, then a long tail of rarer words."""
    problem_words = [w for phrase in PROBLEMS for w in phrase.split() if len(w) > 2]
    ordered = list(dict.fromkeys([*FILLER, *SUPPORT_WORDS, *DETAIL_WORDS, *COMPONENTS]))
    ordered += [w for w in dict.fromkeys(problem_words) if w not in ordered]
    # A long tail, as product documentation has (names, settings, error codes).
    tail: set[str] = set()
    while len(tail) < TAIL_WORDS:
        stem = "".join(
            rng.choice(("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t"))
            + rng.choice("aeiou")
            for _ in range(rng.randint(2, 3))
        )
        tail.add(stem + rng.choice(("", "ing", "er", "ion", "s")))
    ordered += [word for word in sorted(tail) if word not in ordered] + list(RARE)
    weights = [1 / (rank + 1) for rank in range(len(ordered))]
    return ordered, weights


def synthetic_articles(
    count: int, rng: random.Random, now: datetime
) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """(article row, its one version, the plain text to index), as the API writes them."""
    words, weights = vocabulary(rng)
    visibilities, visibility_weights = zip(*VISIBILITY_SHARES.items(), strict=True)
    statuses, status_weights = zip(*STATUS_SHARES.items(), strict=True)
    for index in range(count):
        component = rng.choice(COMPONENTS)
        problem = rng.choice(PROBLEMS)
        title = f"{component.capitalize()} {problem}" + rng.choice(
            ("", " after an upgrade", " for some users", " in the browser", " on mobile")
        )
        paragraphs = []
        for _ in range(rng.randint(3, 8)):
            sentence_words = rng.choices(words, weights, k=rng.randint(30, 80))
            # The article is about its component: it names it now and then.
            for _ in range(rng.randint(0, 3)):
                sentence_words.insert(rng.randrange(len(sentence_words)), component)
            paragraphs.append(" ".join(sentence_words).capitalize() + ".")
        steps = "\n".join(f"{n}. {rng.choice(SUPPORT_WORDS)} **{component}**" for n in (1, 2, 3))
        body = f"## {title}\n\n" + "\n\n".join(paragraphs[:2]) + f"\n\n{steps}\n\n"
        body += "\n\n".join(paragraphs[2:])
        visibility = rng.choices(visibilities, visibility_weights)[0]
        plans = [rng.choice((PLAN, OTHER_PLAN))] if visibility == "plans" else []
        status = rng.choices(statuses, status_weights)[0]
        written = now - timedelta(days=rng.uniform(0, 700))
        article = {
            "slug": f"bench-{index}",
            "title": title,
            "category": rng.choice(CATEGORIES),
            "visibility": visibility,
            "plans": plans,
            "status": status,
            "version": 1,
            "published_version": None if status == "draft" else 1,
            "source_case": None,
            "created_by": AGENT,
            "created_at": written,
            "updated_at": written,
        }
        version = {
            "version": 1,
            "title": title,
            "body": body,
            "category": article["category"],
            "visibility": visibility,
            "plans": plans,
            "author": AGENT,
            "created_at": written,
            "published_at": None if status == "draft" else written,
        }
        yield article, version, plain_text(body)


def insert_articles(url: str, count: int, rng: random.Random, chunk: int = 1_000) -> int:
    """The articles, their versions and the published ones' search entries, in chunks."""
    engine = make_engine(url)
    rows = synthetic_articles(count, rng, datetime.now(UTC))
    inserted = 0
    try:
        while batch := [row for _, row in zip(range(chunk), rows, strict=False)]:
            with engine.begin() as connection:
                ids = connection.execute(
                    insert(KbArticle).returning(col(KbArticle.id), sort_by_parameter_order=True),
                    [article for article, _, _ in batch],
                ).scalars()
                versions: list[dict[str, Any]] = []
                entries: list[tuple[int, str, str]] = []
                for article_id, (article, version, text) in zip(ids, batch, strict=True):
                    assert article_id is not None
                    versions.append({**version, "article_id": article_id})
                    if article["status"] == "published":
                        entries.append((article_id, article["title"], text))
                connection.execute(insert(KbArticleVersion), versions)
                index_articles(connection, entries)
            inserted += len(batch)
    finally:
        engine.dispose()
    return inserted


def settle(url: str) -> float:
    """PostgreSQL after a bulk load, as autovacuum leaves it long before anyone searches:
    vacuumed (hint bits and visibility map set) and analysed. Timed during the
    autovacuum that follows the load instead, both sides' p50 were two to three times
    as high (36 and 33 ms against 17 and 13). SQLite, which keeps no statistics unless
    asked, is left as the application leaves it."""
    if not url.startswith("postgresql"):
        return 0.0
    began = time.perf_counter()
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - began


# --------------------------------------------------------------------------- queries


def typed(title: str, rng: random.Random) -> str:
    """A title as it looks while being typed: its last word cut short."""
    words = title.split()
    last = words[-1]
    return " ".join([*words[:-1], last[: max(3, rng.randint(3, len(last)))]])


def draw_query(rng: random.Random) -> tuple[str, dict[str, str], str]:
    """(kind, the search's parameters, the peer's word)."""
    component = rng.choice(COMPONENTS)
    problem = rng.choice(PROBLEMS)
    kind = rng.choice(("one_word", "two_words", "typing", "rare", "some_words"))
    if kind == "one_word":
        return kind, {"q": component + " "}, component
    if kind == "two_words":
        return kind, {"q": f"{component} {problem.split()[-1]} "}, component
    if kind == "typing":
        return kind, {"q": typed(f"{component} {problem}", rng)}, component
    if kind == "rare":
        rare = rng.choice(RARE)
        return kind, {"q": rare + " "}, rare
    title = f"{component.capitalize()} {problem} since the upgrade "
    return kind, {"q": title, "match": "some"}, component


class Anonymous:
    """A reader without a token."""

    def __init__(self, base_url: str) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=2),
        )

    async def get(self, path: str) -> Answer:
        async with self._session.get(path) as response:
            return Answer("GET", path, response.status, await response.read())

    async def close(self) -> None:
        await self._session.close()


@dataclass
class Timed:
    latencies: list[float] = field(default_factory=list)
    api_cpu: float = 0.0
    hits: int = 0
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        count = len(self.latencies)
        return {
            "count": count,
            "errors": self.errors,
            "p50_ms": ms(percentile(self.latencies, 0.50)),
            "p99_ms": ms(percentile(self.latencies, 0.99)),
            "max_ms": ms(max(self.latencies, default=None)),
            "api_cpu_ms": round(self.api_cpu / count * 1000, 2) if count else None,
            "hits_per_request": round(self.hits / count, 1) if count else None,
        }


@dataclass
class Run:
    """One database's figures."""

    read_model: str = ""
    cases: int = 0
    articles: int = 0
    insert_seconds: float = 0.0
    search: Timed = field(default_factory=Timed)
    peer: Timed = field(default_factory=Timed)
    by_kind: dict[str, Timed] = field(default_factory=dict)
    by_reader: dict[str, Timed] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rss_mib: dict[str, float | None] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        search, peer = self.search.summary(), self.peer.summary()
        return {
            "read_model": self.read_model,
            "cases": self.cases,
            "articles": self.articles,
            "insert_s": round(self.insert_seconds, 1),
            "search": search,
            "peer_case_search": peer,
            "p50_ratio": ratio(search["p50_ms"], peer["p50_ms"]),
            "p99_ratio": ratio(search["p99_ms"], peer["p99_ms"]),
            "by_kind": {name: timed.summary() for name, timed in sorted(self.by_kind.items())},
            "by_reader": {name: timed.summary() for name, timed in self.by_reader.items()},
            "errors": self.errors[:5],
            "peak_rss_mib": self.rss_mib,
        }


async def timed_get(
    get: Any, path: str, api_pid: int, targets: list[Timed], counted: bool, run: Run
) -> Any:
    cpu_before = cpu_seconds(api_pid)
    began = time.perf_counter()
    try:
        answer: Answer = await get(path)
    except (aiohttp.ClientError, TimeoutError) as err:
        for target in targets:
            target.errors += 1
        run.errors.append(f"GET {path}: {type(err).__name__}: {err}"[:200])
        return None
    elapsed = time.perf_counter() - began
    if answer.status_code != 200:
        for target in targets:
            target.errors += 1
        run.errors.append(f"GET {path} -> {answer.status_code} {answer.body[:100]!r}")
        return None
    body = answer.json()
    if counted:
        used = cpu_seconds(api_pid) - cpu_before
        found = len(body.get("items", []))
        for target in targets:
            target.latencies.append(elapsed)
            target.api_cpu += used
            target.hits += found
    return body


# --------------------------------------------------------------------------- setup


async def set_up(running: Stack) -> dict[str, str]:
    """The bench organisation (and the one the synthetic cases' template names), an
    agent and a customer with tokens."""
    admin_token = (running.workdir / "var" / "admin-token").read_text().strip()
    admin = Http(running.api_url, admin_token, connections=2)
    tokens: dict[str, str] = {}
    try:
        organisation = {"id": ORGANISATION, "name": "Bench Ltd", "plan": PLAN}
        expect(await admin.post("/organisations", json=organisation), 201)
        users: list[dict[str, Any]] = [
            {"id": AGENT, "name": "Bench Agent", "role": "agent", "tiers": [1, 2, 3]},
            {"id": CUSTOMER, "name": "Bea", "role": "customer", "organisation": ORGANISATION},
        ]
        for user in users:
            expect(await admin.post("/users", json=user), 201)
            issued = expect(await admin.post(f"/users/{user['id']}/tokens", json={}), 201)
            tokens[user["role"]] = issued["token"]
    finally:
        await admin.close()
    return tokens


def case_details() -> dict[str, Any]:
    # No contact e-mails on the organisation: opening sends nothing.
    return {
        "organisation": ORGANISATION,
        "company_name": "Bench Ltd",
        "contact": {"name": "Bea Bench", "email": "bea@bench.example"},
        "title": "Knowledge-base bench case: export stalls",
        "details": "Opened by bench/kb.py as the synthetic cases' template.",
        "severity": "low",
    }


async def one_article_through_the_api(agent: Http) -> int:
    body = {
        "title": "Kerberos tickets expire during exports",
        "body": "## Symptom\n\nLong **exports** fail when the Kerberos ticket expires.",
        "category": "exports",
        "visibility": "public",
    }
    created = expect(await agent.post("/kb/articles", json=body), 201)
    expect(await agent.post(f"/kb/articles/{created['id']}/publish", json=None), 200)
    article_id: int = created["id"]
    return article_id


# --------------------------------------------------------------------------- the run


async def run_database(args: argparse.Namespace, running: Stack, run: Run) -> None:
    tokens = await set_up(running)
    agent = Http(running.api_url, tokens["agent"], connections=2)
    customer = Http(running.api_url, tokens["customer"], connections=1)
    anonymous = Anonymous(running.api_url)
    try:
        template = expect(await agent.post("/cases", json=case_details()), 201)
        rng = random.Random(20261204)
        began = time.perf_counter()
        rows = synthetic_rows(args.cases, template, datetime.now(UTC), rng)
        run.cases = await asyncio.to_thread(bulk_insert, running.database_url, rows)
        progress(f"{run.cases} synthetic cases in {time.perf_counter() - began:.1f} s")
        mark = time.perf_counter()
        run.articles = await asyncio.to_thread(
            insert_articles, running.database_url, args.articles, rng
        )
        progress(f"{run.articles} synthetic articles in {time.perf_counter() - mark:.1f} s")
        run.insert_seconds = time.perf_counter() - began
        settled = await asyncio.to_thread(settle, running.database_url)
        if settled:
            progress(f"VACUUM ANALYZE in {settled:.1f} s")
        marker = await one_article_through_the_api(agent)
        found = expect(await anonymous.get("/kb/search?q=kerberos+exports"), 200)
        if marker not in [hit["id"] for hit in found["items"]]:
            raise UnexpectedResponse("the article published through the API is not found")

        readers: dict[str, Http | Anonymous] = {
            "anonymous": anonymous,
            "customer": customer,
            "agent": agent,
        }
        names = list(readers)
        pid = running.children["api"].pid
        for sample in range(args.samples + WARM_UP):
            counted = sample >= WARM_UP
            kind, params, word = draw_query(rng)
            reader = names[sample % len(names)]
            search = (
                readers[reader].get,
                "/kb/search?" + urlencode({**params, "limit": 10}),
                [
                    run.search,
                    run.by_kind.setdefault(kind, Timed()),
                    run.by_reader.setdefault(reader, Timed()),
                ],
            )
            peer = (agent.get, "/cases?" + urlencode({"q": word}), [run.peer])
            sides = [search, peer] if sample % 2 == 0 else [peer, search]
            for get, path, targets in sides:
                await timed_get(get, path, pid, targets, counted, run)
            if sample % 100 == 0:
                running.check()
    finally:
        for client in (agent, customer, anonymous):
            await client.close()
    running.check()
    progress(f"{args.samples} searches and as many case searches timed")


def report(args: argparse.Namespace, host: dict[str, Any], runs: list[Run], seconds: float) -> None:
    summaries = [run.summary() for run in runs]
    met = {
        summary["read_model"]: summary["search"]["p99_ms"] is not None
        and summary["search"]["p99_ms"] < GOAL["search_p99_ms_max"]
        and summary["search"]["errors"] == 0
        for summary in summaries
    }
    print(
        f"machine: {host['cpu']}, {host['cpu_count']} CPUs, {host['memory']}; "
        f"at start {host['at_start']}, at end {host['at_end']}"
    )
    print(f"  {host['platform']}, Python {host['python']}, SQLite {host['sqlite']}")
    for summary in summaries:
        search, peer = summary["search"], summary["peer_case_search"]
        print(
            f"\n{summary['read_model']}: {summary['articles']} articles, {summary['cases']} "
            f"cases (inserted in {summary['insert_s']} s); {args.samples} searches"
        )
        print(
            f"  kb search: p50 {search['p50_ms']} ms, p99 {search['p99_ms']} ms, max "
            f"{search['max_ms']} ms, API CPU {search['api_cpu_ms']} ms, "
            f"{search['hits_per_request']} hits; errors {search['errors']}"
        )
        print(
            f"  peer GET /cases?q=: p50 {peer['p50_ms']} ms, p99 {peer['p99_ms']} ms, "
            f"API CPU {peer['api_cpu_ms']} ms; p99 ratio {summary['p99_ratio']}"
        )
        for name, timed in summary["by_kind"].items():
            print(
                f"  {name:>10}: p50 {timed['p50_ms']} ms, p99 {timed['p99_ms']} ms "
                f"({timed['count']}, {timed['hits_per_request']} hits)"
            )
        for error in summary["errors"]:
            print(f"  error: {error}")
    print(f"\n{seconds:.0f} s in all; goal {GOAL}: met {met}")
    print(
        json.dumps(
            {
                "machine": host,
                "params": {
                    "articles": args.articles,
                    "cases": args.cases,
                    "samples": args.samples,
                    "plan": PLAN,
                },
                "runs": summaries,
                "seconds": round(seconds),
                "goal": GOAL,
                "met": met,
            }
        )
    )


def main(args: argparse.Namespace) -> None:
    began = time.monotonic()
    host = {
        **machine(),
        "markdown_it_py": metadata.version("markdown-it-py"),
        "nh3": metadata.version("nh3"),
        "at_start": cpu_pressure(),
    }
    # However a run ends (an error, Ctrl-C, a SIGTERM, made to unwind like Ctrl-C), its
    # processes are stopped and its database dropped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    runs: list[Run] = []
    for database in args.databases:
        run = Run()
        where: dict[str, Any] = {"sqlite": host["sqlite"]}
        server = args.postgresql_url if database == "postgresql" else None
        progress(f"{database}: starting")
        with (
            fresh_database(server, args.keep_workdir, where) as database_url,
            stack(database_url, args.keep_workdir) as running,
        ):
            run.read_model = where["read_model"]
            asyncio.run(run_database(args, running, run))
            run.rss_mib = {
                name: peak_rss_mib(child.pid) for name, child in running.children.items()
            }
            if args.keep_workdir:
                print(f"logs and databases kept in {running.workdir}")
        runs.append(run)
    host["at_end"] = cpu_pressure()
    report(args, host, runs, time.monotonic() - began)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run to try the bench out")
    parser.add_argument("--articles", type=int, help="synthetic articles (10000; quick 1000)")
    parser.add_argument("--cases", type=int, help="synthetic cases (100000; quick 10000)")
    parser.add_argument("--samples", type=int, help="searches per database (500; quick 60)")
    parser.add_argument(
        "--databases",
        nargs="+",
        choices=("sqlite", "postgresql"),
        default=["sqlite", "postgresql"],
        help="the read models to run on, one after the other",
    )
    parser.add_argument(
        "--postgresql-url",
        default=DEFAULT_POSTGRESQL,
        help="a PostgreSQL server on this machine: the read model goes into a fresh "
        "database created there and dropped afterwards",
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the logs and databases")
    args = parser.parse_args()
    defaults = (
        {"articles": 1_000, "cases": 10_000, "samples": 60}
        if args.quick
        else {"articles": 10_000, "cases": 100_000, "samples": 500}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    main(parse_args())
