"""A database that refuses one kind of write, for real: a trigger that raises.

The same fault on SQLite and PostgreSQL, without mocking a driver: the write reaches the
database and the database says no, as a full disk, a broken constraint or a revoked
grant would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

MESSAGE = "refused by the test"


@contextmanager
def refusing(engine: Engine, table: str, operation: str, when: str = "1 = 1") -> Iterator[None]:
    """While the block runs, every `operation` (INSERT or UPDATE) on `table` whose new
    row matches `when` (SQL over NEW) fails in the database."""
    name = f"refuse_{table}_{operation.lower()}"
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW "
                    f"WHEN ({when}) EXECUTE FUNCTION {name}()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {operation} ON {table} WHEN {when} "
                    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER {name}" + _on(engine, table)))
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"DROP FUNCTION {name}()"))


def _on(engine: Engine, table: str) -> str:
    return f" ON {table}" if engine.dialect.name == "postgresql" else ""
