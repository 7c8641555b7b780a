"""Upgrading a SQLite database that already holds data: every migration after the first, with rows in place."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from server.db import alembic_config, create_db_engine, migrate


def test_upgrade_from_0002_keeps_rows_and_their_links(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_db_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    with engine.begin() as connection:
        run = connection.exec_driver_sql
        run("insert into tenant(id, name, created_at) values ('t1', 'Acme', '2026-01-01')")
        run(
            "insert into bot(id, tenant_id, slug, name, persona, greeting, fallback, created_at) "
            "values ('b1', 't1', 'acme', 'Acme', '', '', '', '2026-01-01')"
        )
        run(
            "insert into conversation(id, bot_id, channel, status, created_at, updated_at) "
            "values ('c1', 'b1', 'web', 'bot', '2026-01-01', '2026-01-01')"
        )
        columns = [r[1] for r in run("pragma table_info(message)").all() if r[3] and r[4] is None and r[1] != "id"]
        values = {"conversation_id": "'c1'", "role": "'customer'", "text": "'hi'", "status": "'received'"}
        names = ["id", *columns]
        row = ["'m1'", *(values.get(c, "'2026-01-01'" if c.endswith("_at") else "0") for c in columns)]
        run(f"insert into message({', '.join(names)}) values ({', '.join(row)})")
    migrate(engine)  # to head, as every start does
    with engine.connect() as connection:
        tenant = connection.execute(text("select retention_days, keep_original_text from tenant")).one()
        conversation = connection.execute(text("select attributes, flow from conversation")).one()
        message = connection.execute(text("select conversation_id from message")).one()
        bot = connection.execute(text("select slug from bot")).one()
    assert tuple(tenant) == (None, 1)
    assert conversation[0] in ("{}", {}) and conversation[1] is None
    assert message[0] == "c1" and bot[0] == "acme"
    engine.dispose()
