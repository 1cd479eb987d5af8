"""The knowledge base: articles, their versions, deflected cases, and a ranked full-text
index over the published text.

SQLite gets an FTS5 table `kb_search(title, body)` with the Porter stemmer over unicode61
(diacritics removed): word search ranked by bm25, snippets by `snippet()`. PostgreSQL
gets a table `kb_search` whose generated `document` column is the weighted tsvector of
title (A) and body (B) in the `english` configuration, under a GIN index: ranked by
`ts_rank`, snippets by `ts_headline`. A stored tsvector rather than an expression index:
ranking reads each matching row's vector, which an expression index would have to
compute again from the text for every match. Its rows stay whole in the table
(`toast_tuple_target`): an article's vector (2 KB for 300 words) moved out of line cost
every match a TOAST fetch, and the planner, which does not count those, scanned the whole
table rather than the GIN index (31 ms against 10 for a word in a fifth of 10,000
articles). No parallel scans of it (`parallel_workers = 0`): starting the workers cost
more than the scan (42 ms against 26 for a query matching two thirds of them). The
application writes both when an article is published or archived (db/knowledge.py);
Alembic's comparisons leave them alone (`include_object`).

Revision ID: b2d6f0a4c8e1
Revises: a1c5e9d7b3f2
Create Date: 2026-12-04 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d6f0a4c8e1"
down_revision: str | Sequence[str] | None = "a1c5e9d7b3f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE kb_search USING fts5("
    "title, body, tokenize='porter unicode61 remove_diacritics 2')"
)
POSTGRESQL_SEARCH = (
    "CREATE TABLE kb_search ("
    " article_id integer PRIMARY KEY,"
    " title text NOT NULL,"
    " body text NOT NULL,"
    " document tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, body), 'B')) STORED)"
    " WITH (toast_tuple_target = 8160, parallel_workers = 0)",
    "CREATE INDEX ix_kb_search_document ON kb_search USING gin (document)",
)


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("source_case", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug", name="uq_kb_articles_slug"),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kb_articles_status_category_title", ["status", "category", "title"]
        )
        batch_op.create_index("ix_kb_articles_category_title", ["category", "title"])
    op.create_table(
        "kb_article_versions",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"]),
        sa.PrimaryKeyConstraint("article_id", "version"),
    )
    op.create_table(
        "kb_deflections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("query", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_deflections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_deflections_organisation"), ["organisation"])
        batch_op.create_index(batch_op.f("ix_kb_deflections_article_id"), ["article_id"])
        batch_op.create_index("ix_kb_deflections_at_plan", ["at", "plan"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_SEARCH)
    elif dialect == "postgresql":
        for statement in POSTGRESQL_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kb_search")
    op.drop_table("kb_deflections")
    op.drop_table("kb_article_versions")
    op.drop_table("kb_articles")
