"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from server import tables  # noqa: F401
from server.db import create_db_engine, migrate


def assert_schema_matches_models(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == [], diff
    names = set(inspect(engine).get_table_names())
    assert {"tenant", "user", "bot", "conversation", "message", "document", "chunk", "intent",
            "intentexample", "intentmodel", "replyrule", "feedback", "channelconfig", "channeldelivery",
            "alembic_version"} <= names


def test_sqlite_migrations_match_the_models(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert_schema_matches_models(engine)
    migrate(engine)  # running again is a no-op
    engine.dispose()


def test_postgresql_migrations_match_the_models(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    assert_schema_matches_models(engine)
    engine.dispose()
