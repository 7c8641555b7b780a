"""Migration 0004: the intentmodel table, and examples read from CSV renamed 'import' -> 'csv'."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from server.db import alembic_config, create_db_engine


def test_upgrade_keeps_examples_and_renames_their_source(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO tenant (id, name, created_at) VALUES ('t1', 'T', '2026-01-01')"))
        connection.execute(text(
            "INSERT INTO bot (id, tenant_id, slug, name, persona, greeting, fallback, created_at)"
            " VALUES ('b1', 't1', 'shop', 'Shop', '', '', '', '2026-01-01')"
        ))
        connection.execute(text("INSERT INTO intent (id, bot_id, name, description) VALUES ('i1', 'b1', 'track', '')"))
        connection.execute(text(
            "INSERT INTO intentexample (id, intent_id, text, source) VALUES"
            " ('e1', 'i1', 'where is my order', 'import'), ('e2', 'i1', 'parcel?', 'console')"
        ))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")  # 0004 alone: later migrations have their own tests
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, source, message_id FROM intentexample ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("e1", "csv", None), ("e2", "console", None)]
    assert "intentmodel" in inspect(engine).get_table_names()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT source FROM intentexample WHERE id = 'e1'")).scalar() == "import"
    assert "intentmodel" not in inspect(engine).get_table_names()
    engine.dispose()
