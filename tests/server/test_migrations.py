"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from server import tables  # noqa: F401
from server.db import create_db_engine, migrate

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def assert_schema_matches_models(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == [], diff
    names = set(inspect(engine).get_table_names())
    assert {"tenant", "user", "bot", "conversation", "message", "document", "chunk", "intent",
            "intentexample", "replyrule", "feedback", "channelconfig", "channeldelivery", "alembic_version"} <= names


def test_sqlite_migrations_match_the_models(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert_schema_matches_models(engine)
    migrate(engine)  # running again is a no-op
    engine.dispose()


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server."""
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"fd_test_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here: the scale path cannot be tested on this machine
        pytest.skip(f"PostgreSQL at 127.0.0.1 not reachable: {exc}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_migrations_match_the_models(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    assert_schema_matches_models(engine)
    engine.dispose()
