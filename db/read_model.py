"""The read model: SQL tables that the API lists and filters without asking Temporal."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Column, Engine, Index, LargeBinary, UniqueConstraint, event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Field, SQLModel, create_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Any constant will do, as long as every Tierline process uses the same: "tierline" in ASCII.
SCHEMA_LOCK = 0x7469_6572_6C69_6E65


def utcnow() -> datetime:
    return datetime.now(UTC)


# PostgreSQL refuses U+0000 in text ("text fields cannot contain NUL"). Whatever the read
# model stores from case content has it replaced with U+FFFD, on either database, so that
# one character in a title can neither block a case's projection nor a notification's
# record, and both databases hold the same text. Temporal keeps the content as it came.
NUL = "\x00"
NUL_REPLACEMENT = "\ufffd"
T = TypeVar("T")


def storable(value: T) -> T:
    """`value` with U+0000 replaced by U+FFFD in every string in it, dict keys included."""
    cleaned: Any
    if isinstance(value, str):
        cleaned = value.replace(NUL, NUL_REPLACEMENT)
    elif isinstance(value, dict):
        cleaned = {storable(key): storable(item) for key, item in value.items()}
    elif isinstance(value, list):
        cleaned = [storable(item) for item in value]
    elif isinstance(value, tuple):
        cleaned = tuple(storable(item) for item in value)
    else:
        cleaned = value
    return cleaned


def describe_error(err: BaseException) -> str:
    """An error in one storable line: its type and the first line of its message. For a
    database error, the driver's: SQLAlchemy's own adds the statement and its parameters,
    which hold case content and can be what the database refused."""
    if isinstance(err, DBAPIError) and err.orig is not None:
        err = err.orig
    lines = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return storable(line)[:500]


class CaseNumber(SQLModel, table=True):
    """One row per case number handed out; the idempotency key makes a retried open harmless.

    `idempotency_key` holds the SHA-256 of the caller, the organisation and the client's
    key (`api.cases.scoped_key`), never the key alone: two callers who pick the same key
    get two numbers. Rows from before that hold the raw key, which no digest can equal.
    """

    __tablename__ = "case_numbers"

    number: int | None = Field(default=None, primary_key=True)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    """A person or system that calls the API, with the one role it acts in."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=200)
    name: str
    email: str | None = None
    role: str = Field(index=True)
    organisation: str | None = Field(default=None, index=True, description="customers only")
    tiers: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # Argon2 (web/passwords.py); None: the user cannot sign in to the console or portal.
    password_hash: str | None = None
    password_set_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie's SHA-256, never the cookie itself. It ends at
    sign-out, when idle too long, and when the user's password or tokens change."""

    __tablename__ = "web_sessions"

    digest: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, foreign_key="users.id", max_length=200)
    csrf_token: str = Field(max_length=64, description="every form of the session sends it")
    address: str = Field(max_length=64, description="the client address at sign-in")
    created_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow)


class SignInFailure(SQLModel, table=True):
    """A failed sign-in, counted per user and per address to slow down guessing."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_user_id_at", "user_id", "at"),
        Index("ix_sign_in_failures_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=200)
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A bearer token, stored only as its SHA-256 digest."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True, foreign_key="users.id")
    digest: str = Field(unique=True, max_length=64)
    label: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Organisation(SQLModel, table=True):
    """A customer organisation, its support plan and where its notifications go."""

    __tablename__ = "organisations"

    id: str = Field(primary_key=True, max_length=100)
    name: str
    catalog: str
    plan: str
    addons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    contact_emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    webhook_url: str | None = None
    dedicated_engineer: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class MonthlyUsage(SQLModel, table=True):
    """An organisation's reported usage cost for one month, for usage-share billing."""

    __tablename__ = "monthly_usage"

    organisation: str = Field(primary_key=True, foreign_key="organisations.id")
    month: str = Field(primary_key=True, max_length=7)
    usage_cost: Decimal = Field(max_digits=14, decimal_places=2)
    contract_monthly_fee: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    reported_at: datetime = Field(default_factory=utcnow)


class CaseRecord(SQLModel, table=True):
    """The latest projected state of a case, written only by the projection activity."""

    __tablename__ = "cases"
    # These serve the lists at 100,000 cases. A customer's list walks the first backwards
    # (number DESC); a tier's queue reads its statuses from the second, which also holds
    # every column a queue filters on, so a filtered queue is counted and paged from the
    # index alone (reading each open case's row cost 30-50 ms a page); an agent's screen
    # filtering organisation, status and severity counts from the third alone; "due soon"
    # ranges over the fourth. Each serves filters on its leading column alone, so those
    # columns carry no index of their own, and `breached` and `severity` carry none: they
    # match most rows, and an index on them lured the planner away from the better ones.
    # Text search has its own index outside the models (SEARCH_TABLE, SEARCH_INDEXES).
    __table_args__ = (
        Index("ix_cases_organisation_number", "organisation", "number"),
        Index(
            "ix_cases_queue",
            "status",
            "tier",
            "next_due_at",
            "organisation",
            "breached",
            "severity",
            "assignee",
        ),
        Index("ix_cases_org_status_severity", "organisation", "status", "severity", "number"),
        Index("ix_cases_next_due_at_breached", "next_due_at", "breached"),
    )

    number: int = Field(primary_key=True)
    case_id: str = Field(index=True, unique=True)
    organisation: str
    company_name: str
    title: str
    details: str = ""
    severity: str
    status: str
    tier: int = Field(index=True)
    assignee: str | None = Field(default=None, index=True)
    breached: bool = False
    next_due_at: datetime | None = None
    opened_at: datetime = Field(index=True)
    updated_at: datetime
    seq: int
    # When the projection last wrote an event the case's customer may see: the live feed
    # pushes their screens only for those (web/live.py).
    public_changed_at: datetime | None = None
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # When the projection last wrote the row (its own clock): the live feed
    # (web/live.py) polls for rows written since it last looked.
    projected_at: datetime | None = Field(default=None, index=True)


# Text search over cases' title and details, kept by the migrations outside the models:
# on SQLite an FTS5 table with the trigram tokenizer (substring matches, any case) that
# triggers keep in step with `cases`; on PostgreSQL trigram GIN indexes (pg_trgm) that
# serve ILIKE. Alembic's comparisons leave them alone (`include_object`).
SEARCH_TABLE = "cases_search"
SEARCH_INDEXES = frozenset({"ix_cases_title_trgm", "ix_cases_details_trgm"})
# Shorter words than this cannot use a trigram index and are matched by LIKE.
SEARCH_MIN_WORD = 3
# The knowledge base's article search (db/knowledge.py), kept the same way: an FTS5
# table on SQLite, a table with a tsvector column and its GIN index on PostgreSQL.
KB_SEARCH_TABLE = "kb_search"
KB_SEARCH_INDEXES = frozenset({"ix_kb_search_document"})


def include_object(
    item: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """What Alembic compares: everything but the text-search indexes and their tables."""
    if kind == "table" and name is not None and name.startswith((SEARCH_TABLE, KB_SEARCH_TABLE)):
        return False
    return not (kind == "index" and name in SEARCH_INDEXES | KB_SEARCH_INDEXES)


class CaseEventRecord(SQLModel, table=True):
    """One recorded fact of a case: the timeline, keyed by case and sequence number."""

    __tablename__ = "case_events"

    case_number: int = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    at: datetime = Field(index=True)
    kind: str = Field(index=True)
    actor_id: str
    actor_role: str
    reason: str | None = None
    public: bool = True
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class NotificationRecord(SQLModel, table=True):
    """Every notification Tierline sends; its key makes a retried delivery a no-op.

    `status` is `sending` from the moment an attempt claims the row, committed before the
    message goes out, until the relay or endpoint has accepted it (`sent`), or the attempt
    failed without sending (`pending`, with `last_error`). A row left `sending` had an
    attempt whose outcome is unknown: its process died mid-send, or the message went and
    the mark could not be written. `key` is the notification's key, or `sha256:` and the
    key's digest for a key that does not fit (`activities.notify.record_key`).
    """

    __tablename__ = "notifications"

    key: str = Field(primary_key=True, max_length=400)
    case_number: int | None = Field(default=None, index=True)
    notice_id: int | None = Field(default=None, index=True)
    organisation: str | None = Field(default=None, max_length=100)
    event_seq: int
    event_kind: str
    channel: str
    recipient: str
    subject: str
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # The e-mail's Message-ID (without angle brackets): a reply's In-Reply-To finds its case.
    message_id: str | None = Field(default=None, max_length=255, index=True)


class ProjectionFailure(SQLModel, table=True):
    """A case whose latest projection could not be written, while it keeps failing; the
    next write of the case that succeeds deletes the row. `/health` reports them."""

    __tablename__ = "projection_failures"

    case_number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(description="the view's seq in the last attempt that failed")
    error: str = Field(description="the database's one-line reason, without the statement")
    attempts: int = 1
    first_failed_at: datetime = Field(default_factory=utcnow)
    last_failed_at: datetime = Field(default_factory=utcnow)


class NoticeRecord(SQLModel, table=True):
    """A scheduled outage or business-continuity notice and how its delivery went."""

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    title: str
    body: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    audience: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="sending", index=True)
    messages: int = 0
    delivered: int = 0
    failed: int = 0
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


class NoticeOrganisation(SQLModel, table=True):
    """One organisation a notice is addressed to; customers list notices through it."""

    __tablename__ = "notice_organisations"
    __table_args__ = (
        Index("ix_notice_organisations_organisation_notice", "organisation", "notice_id"),
    )

    notice_id: int = Field(primary_key=True, foreign_key="notices.id")
    organisation: str = Field(primary_key=True, max_length=100)


class ReleaseRecord(SQLModel, table=True):
    """The latest projected state of a release, written by its workflow's projection."""

    __tablename__ = "releases"
    __table_args__ = (Index("ix_releases_status_planned_at", "status", "planned_at"),)

    version: str = Field(primary_key=True, max_length=50)
    kind: str
    status: str
    planned_date: date | None = None
    hotfix_build: str | None = None
    linked_cases: int = 0
    planned_at: datetime = Field(index=True)
    shipped_at: datetime | None = None
    cancelled_reason: str | None = None
    updated_at: datetime
    seq: int


class IdempotentRequest(SQLModel, table=True):
    """The first answer to a POST sent with an Idempotency-Key, replayed to its retries.

    `status_code` is None while the first request is still running.
    """

    __tablename__ = "idempotent_requests"

    caller: str = Field(primary_key=True, max_length=200)
    route: str = Field(primary_key=True, max_length=400)
    key: str = Field(primary_key=True, max_length=200)
    request_digest: str = Field(max_length=64)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=200)
    body: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # The API process (`ApiInstance.id`) running the first request: a retry finding the
    # claim of a process that is gone takes it over at once.
    owner: str | None = Field(default=None, max_length=64)


class InboundMailRecord(SQLModel, table=True):
    """A mail the SMTP gateway accepted, recorded before it answered `250` and kept whatever
    became of it. `status`: `received` (not processed yet), `applied` (it opened or
    continued `case_number`), `ignored` (an auto-reply, bounce, list mail, duplicate or
    flood: `reason` says which), `held` (from no organisation's contact: agents accept or
    discard it), `discarded`, `failed` (could not be processed: `reason`). The same
    Message-ID from the same sender is one mail (a second delivery is not recorded again).
    """

    __tablename__ = "inbound_mail"
    __table_args__ = (UniqueConstraint("sender", "message_id", name="uq_inbound_mail_message"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    sender: str = Field(max_length=320, index=True, description="lower-cased From address")
    envelope_sender: str = Field(default="", max_length=320)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    message_id: str | None = Field(default=None, max_length=255)
    subject: str = ""
    size: int
    digest: str = Field(max_length=64, description="SHA-256 of the raw message")
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="received", index=True)
    reason: str | None = None
    organisation: str | None = Field(default=None, max_length=100, index=True)
    case_number: int | None = Field(default=None, index=True)
    processed_at: datetime | None = None


class AttachmentRecord(SQLModel, table=True):
    """A file that came with a case's mail; its bytes are stored by digest
    (`mail.attachments.AttachmentStore`)."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    case_number: int = Field(index=True)
    organisation: str = Field(max_length=100, index=True)
    inbound_mail_id: int | None = Field(default=None, index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ApiInstance(SQLModel, table=True):
    """A running API process, seen by its heartbeat; the owner of idempotency claims."""

    __tablename__ = "api_instances"

    id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow)


# SQLite lets one connection write at a time; the others sleep in its busy handler, which
# backs off up to 100 ms a try, so activity threads writing side by side wait far longer
# than the writes take. The threads writing through one engine take turns on a lock instead.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Hold around a write transaction: this engine's turn to write to a SQLite read
    model (nothing to wait for on PostgreSQL, which locks rows)."""
    lock = _SQLITE_WRITE_LOCKS.get(engine)
    return lock if lock is not None else nullcontext()


def make_engine(url: str) -> Engine:
    """Engine for the read model; SQLite gets WAL so the API reads while the worker writes.
    Its errors never quote a statement's parameters (case text, password hashes, token
    digests), so logging one leaks none of them."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
            hide_parameters=True,
        )
        _SQLITE_WRITE_LOCKS[engine] = threading.Lock()

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                # Another process is switching the new file to WAL right now; WAL is a
                # property of the file, so it holds for this connection too.
                pass
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, pool_pre_ping=True, pool_size=20, max_overflow=20, hide_parameters=True
    )


def create_schema(engine: Engine) -> None:
    """Upgrade the read model to the newest migration; a no-op when it is there already.

    Processes starting together take turns, all in one transaction: PostgreSQL by an
    advisory lock, SQLite by its write lock. Whoever comes second finds the schema at head.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        # On this connection the version table and the tables land in its search_path.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


from db import invitations as _invitations  # noqa: E402,F401

# The knowledge base's tables, so that every read-model table is on the metadata.
from db import knowledge as _knowledge  # noqa: E402,F401
