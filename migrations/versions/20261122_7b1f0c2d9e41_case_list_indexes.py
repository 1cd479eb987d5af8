"""Case lists at 100,000 rows: a text-search index, composite indexes for the agent's
filters, and no single-column indexes on `severity`, `breached` and `next_due_at`.

SQLite gets an FTS5 table with the trigram tokenizer over title and details, kept in step
with `cases` by triggers (a later revision that rebuilds `cases` by copying it must
create the triggers again). PostgreSQL gets trigram GIN indexes for ILIKE when the
pg_trgm extension can be created; without it, search works as before, by scanning.

Revision ID: 7b1f0c2d9e41
Revises: 489e63989c85
Create Date: 2026-11-22 06:10:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "7b1f0c2d9e41"
down_revision: str | Sequence[str] | None = "489e63989c85"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE cases_search USING fts5("
    "title, details, content='cases', content_rowid='number', tokenize='trigram')",
    "CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN"
    " INSERT INTO cases_search(rowid, title, details)"
    " VALUES (new.number, new.title, new.details); END",
    "CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN"
    " INSERT INTO cases_search(cases_search, rowid, title, details)"
    " VALUES ('delete', old.number, old.title, old.details); END",
    "CREATE TRIGGER cases_search_update AFTER UPDATE OF title, details ON cases BEGIN"
    " INSERT INTO cases_search(cases_search, rowid, title, details)"
    " VALUES ('delete', old.number, old.title, old.details);"
    " INSERT INTO cases_search(rowid, title, details)"
    " VALUES (new.number, new.title, new.details); END",
    "INSERT INTO cases_search(cases_search) VALUES ('rebuild')",
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_cases_severity")
        batch_op.drop_index("ix_cases_breached")
        batch_op.drop_index("ix_cases_next_due_at")
        batch_op.create_index(
            "ix_cases_org_status_severity",
            ["organisation", "status", "severity", "number"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_next_due_at_breached", ["next_due_at", "breached"], unique=False
        )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif dialect == "postgresql":
        _postgresql_trigram_indexes()


def _postgresql_trigram_indexes() -> None:
    connection = op.get_bind()
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as err:
        log.warning("pg_trgm unavailable, text search will scan: %s", err.orig)
        return
    # The extension may live in another schema than this one's (installed there first, or
    # by the database's owner): name its operator class by that schema.
    schema = connection.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    ).scalar_one()
    opclass = f'"{schema}".gin_trgm_ops'
    for column in ("title", "details"):
        op.execute(f"CREATE INDEX ix_cases_{column}_trgm ON cases USING gin ({column} {opclass})")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS cases_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS cases_search")
    elif dialect == "postgresql":
        for column in ("title", "details"):
            op.execute(f"DROP INDEX IF EXISTS ix_cases_{column}_trgm")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_cases_next_due_at_breached")
        batch_op.drop_index("ix_cases_org_status_severity")
        batch_op.create_index("ix_cases_next_due_at", ["next_due_at"], unique=False)
        batch_op.create_index("ix_cases_breached", ["breached"], unique=False)
        batch_op.create_index("ix_cases_severity", ["severity"], unique=False)
