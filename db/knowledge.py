"""The knowledge base's tables: articles, every version of their text, and deflections
(a customer about to open a case who found the answer in an article instead).

An article's row says how readers find it (its slug, and the title, category and
visibility of the version they are shown: the published one, else the newest draft);
its text lives in versions, numbered from 1 and never changed once written. Publishing
points the article at one of its versions and copies that version's text into the search
index (`KB_SEARCH_TABLE`, outside the models like the cases' one); archiving takes it
out again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Connection, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.read_model import KB_SEARCH_TABLE, utcnow


class KbArticle(SQLModel, table=True):
    """One article: where readers find it and which of its versions they read."""

    __tablename__ = "kb_articles"
    # A reader's list walks the first (published, by category and title); staff's, which
    # takes every status, the second.
    __table_args__ = (
        UniqueConstraint("slug", name="uq_kb_articles_slug"),
        Index("ix_kb_articles_status_category_title", "status", "category", "title"),
        Index("ix_kb_articles_category_title", "category", "title"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200, description="stable for the article's life")
    title: str = Field(max_length=200)
    category: str = Field(max_length=100)
    visibility: str = Field(max_length=20, description="public, customers, staff or plans")
    plans: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="`catalog:plan` values, for visibility `plans` only",
    )
    status: str = Field(max_length=20, description="draft, published or archived")
    version: int = Field(description="the newest version's number")
    published_version: int | None = None
    # The resolved case a draft was made from (POST /kb/articles/from-case/{number}).
    source_case: int | None = None
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KbArticleVersion(SQLModel, table=True):
    """One version of an article's text, written once; `published_at` is when it was
    first published."""

    __tablename__ = "kb_article_versions"

    article_id: int = Field(primary_key=True, foreign_key="kb_articles.id")
    version: int = Field(primary_key=True)
    title: str = Field(max_length=200)
    body: str = Field(description="Markdown")
    category: str = Field(max_length=100)
    visibility: str = Field(max_length=20)
    plans: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None


class KbDeflection(SQLModel, table=True):
    """A case not opened: a customer typing a case's title read a suggested article and
    said it solved the problem. Counted per plan and month beside SLA attainment."""

    __tablename__ = "kb_deflections"
    __table_args__ = (Index("ix_kb_deflections_at_plan", "at", "plan"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation: str = Field(max_length=100, index=True)
    plan: str = Field(max_length=200, description="the organisation's `catalog:plan` then")
    article_id: int = Field(foreign_key="kb_articles.id", index=True)
    user_id: str = Field(max_length=200)
    query: str = Field(max_length=300, description="the case title the customer had typed")
    at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- search index

# Markers around matches in the snippets the index returns: private-use characters,
# removed from everything indexed, so that a snippet can be escaped as a whole and the
# markers turned into <mark> afterwards (api.knowledge.marked).
MATCH_START = "\ue000"
MATCH_END = "\ue001"
# PostgreSQL's parser reads `<word>` as an HTML tag, which it neither indexes nor quotes
# in a headline; in the indexed text (what a reader sees) they are characters. Its copy
# holds them as private-use stand-ins, which the parser reads as spaces.
_ANGLES = {"<": "\ue002", ">": "\ue003"}
_TO_POSTGRESQL = str.maketrans(_ANGLES)
_FROM_POSTGRESQL = str.maketrans({stand_in: angle for angle, stand_in in _ANGLES.items()})
_PRIVATE = re.compile(f"[{MATCH_START}{MATCH_END}{''.join(_ANGLES.values())}]")
# PostgreSQL's text search configuration; SQLite's FTS5 table uses the Porter stemmer
# over unicode61 (the migration), the nearest to it.
PG_CONFIG = "english"


def indexable(value: str) -> str:
    """The text without the private-use characters the index gives a meaning."""
    return _PRIVATE.sub("", value)


def from_index(value: str) -> str:
    """Text the index returned (a snippet) as it was given to it."""
    return value.translate(_FROM_POSTGRESQL)


def index_articles(connection: Connection, entries: Sequence[tuple[int, str, str]]) -> None:
    """Put (article id, title, plain text) into the search index, replacing what it held
    for those articles. In the caller's transaction."""
    if not entries:
        return
    stored = _TO_POSTGRESQL if connection.dialect.name == "postgresql" else {}
    rows = [
        {
            "id": article_id,
            "title": indexable(title).translate(stored),
            "body": indexable(body).translate(stored),
        }
        for article_id, title, body in entries
    ]
    unindex_articles(connection, [article_id for article_id, _, _ in entries])
    if connection.dialect.name == "sqlite":
        statement = f"INSERT INTO {KB_SEARCH_TABLE}(rowid, title, body) VALUES (:id, :title, :body)"
    else:
        # `document` is a generated column: the weighted tsvector of title and body.
        statement = (
            f"INSERT INTO {KB_SEARCH_TABLE}(article_id, title, body) VALUES (:id, :title, :body)"
        )
    connection.execute(text(statement), rows)


def unindex_articles(connection: Connection, article_ids: list[int]) -> None:
    """Take these articles out of the search index. In the caller's transaction."""
    key = "rowid" if connection.dialect.name == "sqlite" else "article_id"
    parameters: list[dict[str, Any]] = [{"id": article_id} for article_id in article_ids]
    if parameters:
        connection.execute(text(f"DELETE FROM {KB_SEARCH_TABLE} WHERE {key} = :id"), parameters)
