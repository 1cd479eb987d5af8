"""The Alembic revisions build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Engine, String, column, inspect, select, table, text
from sqlmodel import Session, SQLModel

from db.read_model import (
    MIGRATIONS,
    Organisation,
    create_schema,
    include_object,
    make_engine,
)
from tests.conftest import PG_URL, drop_schema, require_postgresql

ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "case_numbers",
    "users",
    "api_tokens",
    "organisations",
    "cases",
    "case_events",
    "notifications",
    "monthly_usage",
    "notices",
    "notice_organisations",
    "releases",
    "idempotent_requests",
    "api_instances",
    "inbound_mail",
    "attachments",
    "projection_failures",
    "web_sessions",
    "sign_in_failures",
    "kb_articles",
    "kb_article_versions",
    "kb_deflections",
    "password_links",
}


@contextmanager
def alembic_config(engine: Engine) -> Iterator[Config]:
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        yield config


def differences(engine: Engine) -> list[object]:
    """What `alembic check` would report: the models against the live schema."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        return list(compare_metadata(context, SQLModel.metadata))


def model_tables(engine: Engine) -> set[str]:
    """The tables, without the text-search indexes' own (SQLite FTS5 keeps them in tables)."""
    names = inspect(engine).get_table_names()
    return {name for name in names if include_object(None, name, "table", True, None)}


def version(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"the revisions branch: heads {heads}; run `alembic merge heads`"
    return heads[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables at all, not even alembic_version."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        # Opened once, so the file is in WAL mode before processes race to migrate it.
        engine.connect().close()
        yield engine
        engine.dispose()
        return
    require_postgresql()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL + f"?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    drop_schema(admin, schema)
    admin.dispose()


def test_the_revisions_have_one_head() -> None:
    assert head()


def test_upgraded_schema_matches_the_models(read_model: Engine) -> None:
    assert version(read_model) == head()
    assert model_tables(read_model) == TABLES | {"alembic_version"}
    assert differences(read_model) == []


def test_list_indexes_exist(read_model: Engine) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(read_model).get_indexes("cases")}
    assert indexes["ix_cases_organisation_number"] == ["organisation", "number"]
    assert indexes["ix_cases_queue"] == [
        "status",
        "tier",
        "next_due_at",
        "organisation",
        "breached",
        "severity",
        "assignee",
    ]


def test_version_table_lands_in_the_connections_schema(postgresql_engine: Engine) -> None:
    with postgresql_engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        assert schema.startswith("t_")
        found = connection.execute(
            text("SELECT to_regclass(:name)"), {"name": f"{schema}.alembic_version"}
        )
        assert found.scalar_one() is not None


def test_downgrade_to_base_then_upgrade_to_head(read_model: Engine) -> None:
    with alembic_config(read_model) as config:
        command.downgrade(config, "base")
    assert set(inspect(read_model).get_table_names()) <= {"alembic_version"}
    assert version(read_model) is None

    with alembic_config(read_model) as config:
        command.upgrade(config, "head")
    assert version(read_model) == head()
    assert differences(read_model) == []


def test_create_schema_again_changes_nothing(read_model: Engine) -> None:
    with Session(read_model) as session:
        session.add(Organisation(id="acme", name="Acme", catalog="standard", plan="gold"))
        session.commit()

    create_schema(read_model)
    create_schema(read_model)

    assert version(read_model) == head()
    assert differences(read_model) == []
    with Session(read_model) as session:
        organisation = session.get(Organisation, "acme")
        assert organisation is not None
        assert organisation.created_at <= datetime.now(UTC)


STARTER = """
import sys
from db.read_model import create_schema, make_engine
engine = make_engine(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
create_schema(engine)
"""


def test_processes_starting_together_migrate_once(empty_database: Engine) -> None:
    # Processes, not threads: alembic keeps the running migration in module globals. Each
    # imports first and then waits, so that the upgrades themselves start together.
    url = empty_database.url.render_as_string(hide_password=False)
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for process in starting:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    for process in starting:
        _, stderr = process.communicate(b"go\n", timeout=60)
        assert process.returncode == 0, stderr.decode()

    assert version(empty_database) == head()
    assert differences(empty_database) == []


AGENT_TIERS_REVISION = "c4a7e2b91d3f"


def test_agents_stored_with_no_tiers_get_every_tier(empty_database: Engine) -> None:
    # Before this revision an agent with no tiers acted on every tier; after it an empty
    # list means no tier, so the revision writes out what those agents could do.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    before = ScriptDirectory.from_config(config).get_revision(AGENT_TIERS_REVISION).down_revision
    assert isinstance(before, str)
    with alembic_config(empty_database) as config:
        command.upgrade(config, before)
    users = table(
        "users",
        column("id", String),
        column("name", String),
        column("role", String),
        column("tiers", JSON),
        column("created_at", DateTime(timezone=True)),
    )
    stored = {"old-agent": ("agent", []), "tia": ("agent", [3]), "ann": ("customer", [])}
    with empty_database.begin() as connection:
        connection.execute(
            users.insert(),
            [
                {
                    "id": id_,
                    "name": id_,
                    "role": role,
                    "tiers": tiers,
                    "created_at": datetime.now(UTC),
                }
                for id_, (role, tiers) in stored.items()
            ],
        )

    with alembic_config(empty_database) as config:
        command.upgrade(config, "head")

    with empty_database.connect() as connection:
        rows = connection.execute(select(users.c.id, users.c.tiers)).all()
    assert dict(rows) == {"old-agent": [1, 2, 3], "tia": [3], "ann": []}
