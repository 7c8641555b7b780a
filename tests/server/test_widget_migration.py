"""Migration 0006 gives bots that existed before it a public widget key of their own."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from server.db import alembic_config, create_db_engine


def upgrade_existing_bots(url: str) -> None:
    engine = create_db_engine(url)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(text("INSERT INTO tenant (id, name, keep_original_text, created_at) "
                                "VALUES ('t_1', 'Shop', true, CURRENT_TIMESTAMP)"))
        for slug in ("one", "two"):
            connection.execute(text(
                "INSERT INTO bot (id, tenant_id, slug, name, persona, greeting, fallback, created_at) "
                f"VALUES ('b_{slug}', 't_1', '{slug}', 'Bot', '', '', '', CURRENT_TIMESTAMP)"
            ))
        command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT public_key, widget, identity_secret FROM bot ORDER BY slug")).all()
    keys = [row[0] for row in rows]
    assert len(keys) == 2 and len(set(keys)) == 2 and all(k.startswith("pk_") and len(k) == 35 for k in keys)
    assert all(row[1] in ({}, "{}") and row[2] is None for row in rows)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
        command.upgrade(config, "head")
    engine.dispose()


def test_sqlite_bots_get_keys(tmp_path) -> None:
    upgrade_existing_bots(f"sqlite:///{tmp_path / 'w.db'}")


def test_postgresql_bots_get_keys(postgres_url: str) -> None:
    upgrade_existing_bots(postgres_url)
