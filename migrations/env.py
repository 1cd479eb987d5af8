"""Alembic's entry point for the read model, from `create_schema(engine)` or the alembic CLI.

`create_schema` hands in its own connection (`config.attributes["connection"]`), so the
version table lands wherever that connection's search_path points. The CLI, run from the
repository root, connects to the database that Settings names (DATABASE_URL, else SQLite
under var/).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

# Importing the module registers every read-model table on SQLModel.metadata.
from db.read_model import include_object, make_engine
from settings import get_settings

target_metadata = SQLModel.metadata
# Only the CLI has an ini file; create_schema leaves the application's logging alone.
if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Revisions spell SQLModel's types as the plain SQLAlchemy types they store, so they
    need no sqlmodel import and do not change when sqlmodel does."""
    if kind == "type" and isinstance(item, AutoString):
        return "sa.String()" if item.length is None else f"sa.String(length={item.length})"
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        include_object=include_object,
        # SQLite alters most things only by copying the table.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(get_settings().effective_database_url)
    try:
        with engine.connect() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the DDL for the configured database."""
    url = make_engine(get_settings().effective_database_url).url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
