"""The read model: SQL tables that the API lists and filters without asking Temporal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, event
from sqlmodel import Field, SQLModel, create_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


class CaseNumber(SQLModel, table=True):
    """One row per case number handed out; the idempotency key makes a retried open harmless."""

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


class CaseRecord(SQLModel, table=True):
    """The latest projected state of a case, written only by the projection activity."""

    __tablename__ = "cases"

    number: int = Field(primary_key=True)
    case_id: str = Field(index=True, unique=True)
    organisation: str = Field(index=True)
    company_name: str
    title: str
    details: str = ""
    severity: str = Field(index=True)
    status: str = Field(index=True)
    tier: int = Field(index=True)
    assignee: str | None = Field(default=None, index=True)
    breached: bool = Field(default=False, index=True)
    next_due_at: datetime | None = Field(default=None, index=True)
    opened_at: datetime = Field(index=True)
    updated_at: datetime
    seq: int
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


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
    """Every notification Tierline sends; its key makes a retried delivery a no-op."""

    __tablename__ = "notifications"

    key: str = Field(primary_key=True, max_length=400)
    case_number: int = Field(index=True)
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


def make_engine(url: str) -> Engine:
    """Engine for the read model; SQLite gets WAL so the API reads while the worker writes."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


def create_schema(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
