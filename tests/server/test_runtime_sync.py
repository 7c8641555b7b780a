"""A running server sees knowledge and rules changed by another process (the CLI, another worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from knowledge.config import KnowledgeSettings
from server import runtimes
from server.context import Services
from server.ingest import delete_document, ingest_file
from server.seed import create_bot
from server.tables import Bot, ReplyRule, Tenant
from tests.conftest import make_settings
from tests.fakes import HashEmbedder


def open_services(data: Path) -> Services:
    settings = make_settings(data, knowledge=KnowledgeSettings(reranker="none"))
    services = Services.open(settings)
    key = (settings.knowledge.embedding_model, settings.knowledge.device)
    services.embedders._models[key] = HashEmbedder()  # type: ignore[assignment]
    return services


@pytest.fixture()
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Services]]:
    """The server's services and the CLI's, on one database and data folder, with a bot 'shop'."""
    monkeypatch.setattr(runtimes, "CHANGE_CHECK_SECONDS", 0.0)
    server, cli = open_services(tmp_path / "data"), open_services(tmp_path / "data")
    with Session(server.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    yield server, cli
    server.close()
    cli.close()


def urls(svc: Services, query: str) -> list[str]:
    return [h.chunk.url for h in svc.runtimes.get("shop").knowledge.search(query, 3).hits]


def test_documents_ingested_or_deleted_elsewhere_reach_the_server(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, cli = pair
    first = tmp_path / "warranty.md"
    first.write_text("# Warranty\n\nThe zorblax warranty covers moon dust for seven years.\n")
    assert ingest_file(cli.runtimes, "shop", first).ok
    assert any("/warranty" in u for u in urls(server, "zorblax warranty moon dust"))

    second = tmp_path / "llamas.md"
    second.write_text("# Llama delivery\n\nQuuxland orders ship by llama within nine days.\n")
    before = dict(server.runtimes.knowledge("shop").store.chunks)
    assert ingest_file(cli.runtimes, "shop", second).ok
    assert any("/llamas" in u for u in urls(server, "llama delivery Quuxland"))
    after = server.runtimes.knowledge("shop").store.chunks
    assert all(after[cid] == record for cid, record in before.items())  # the first document was not redone

    assert delete_document(cli.runtimes, "shop", "llamas")
    assert not any("/llamas" in u for u in urls(server, "llama delivery Quuxland"))


def test_rules_edited_elsewhere_reach_the_server(pair) -> None:  # type: ignore[no-untyped-def]
    server, cli = pair
    assert server.runtimes.get("shop").rules == []
    with Session(cli.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        definition = {"when": {"keywords": ["opening hours"]}, "then": [{"reply": "9 to 5."}]}
        session.add(ReplyRule(bot_id=bot.id, name="hours", definition=definition, priority=10))
        session.commit()
    assert [r.name for r in server.runtimes.get("shop").rules] == ["hours"]
