"""HTTP actions in real conversations: ask for the order number over the websocket, look it up on
the business's endpoint (a real server on 127.0.0.1), answer from its JSON, or hand off when it
fails. FRONTDESK_ACTIONS__ALLOW_PRIVATE_NETWORKS lets the bot reach 127.0.0.1; without it the
guard refuses. Secrets stay sealed and out of the stored trace; requests are signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server import action_secrets
from server.tables import Bot, Conversation, Message, ReplyRule, Tenant
from tests.bot.test_http_action import Endpoint
from tests.conftest import make_settings

TOKEN = "shop-api-token-8f3a9c"
LOOKUP = {
    "description": "Ask for the order number, look it up, answer or hand off",
    "when": {"keywords": ["order"]},
    "then": [
        {"ask_slots": {"slots": [{"name": "order_number", "type": "order_number",
                                  "prompt": "What's your order number?"}]}},
        {"http": {"url": "ENDPOINT/orders/{{ slots.order_number }}",
                  "headers": {"Authorization": "Bearer {{ secrets.SHOP_TOKEN }}"},
                  "timeout": 2, "retries": 1, "save_as": "order", "expect": "json",
                  "on_error": [{"reply": "Sorry, I can't find order {{ slots.order_number }} right now."},
                               {"handoff": True}]}},
        {"reply": "Order {{ order.json.number }} is {{ order.json.status }} and arrives {{ order.json.eta }}."},
    ],
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def open_services(data_dir: Path, endpoint: Endpoint, allow_private: bool):  # type: ignore[no-untyped-def]
    """A fresh deployment with bot 'shop', the lookup rule and an action secret (fake embedder)."""
    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import create_bot
    from tests.fakes import HashEmbedder

    settings = make_settings(data_dir, knowledge=KnowledgeSettings(reranker="none"))
    assert settings.actions.allow_private_networks is allow_private  # type: ignore[attr-defined]
    services = Services.open(settings)
    services.embedders._models[(settings.knowledge.embedding_model, settings.knowledge.device)] = HashEmbedder()
    definition = json.loads(json.dumps(LOOKUP).replace("ENDPOINT", endpoint.url))
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        bot = create_bot(session, tenant.id, "shop", "Shop")
        session.add(ReplyRule(bot_id=bot.id, name="order_lookup", definition=definition, priority=10))
        session.commit()
        action_secrets.set_action_secret(session, services.secrets, bot, "SHOP_TOKEN", TOKEN)
    return services


@pytest.fixture()
def client(tmp_path: Path, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Any]]:
    from server.app import create_app

    monkeypatch.setenv("FRONTDESK_ACTIONS__ALLOW_PRIVATE_NETWORKS", "true")
    services = open_services(tmp_path / "data", endpoint, allow_private=True)
    with TestClient(create_app(services.settings, services)) as test_client:
        yield test_client, services
    services.close()


def send(ws: Any, client_id: str, text: str) -> dict:
    ws.send_json({"type": "message", "id": client_id, "text": text})
    assert ws.receive_json()["type"] == "ack"
    while True:
        frame = ws.receive_json()
        if frame["type"] != "chunk":
            return frame


def bot_messages(services: Any, conversation_id: str) -> list[Message]:
    with Session(services.engine) as session:
        rows = session.exec(select(Message).where(Message.conversation_id == conversation_id,
                                                  Message.role == "bot")).all()
        return sorted(rows, key=lambda m: m.created_at)


def test_order_lookup_over_several_turns_answers_from_the_endpoint(client, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    test_client, services = client
    with test_client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        asked = send(ws, "m1", "Where is my order?")
        assert asked["type"] == "final" and asked["text"] == "What's your order number?"
        answered = send(ws, "m2", "it's nw-123456")
    assert answered["text"] == "Order NW-123456 is shipped and arrives Friday."
    assert answered["handoff"] is False

    request = endpoint.requests[-1]
    assert request["path"] == "/orders/NW-123456" and request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    with Session(services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        signing = action_secrets.signing_secret(session, services.secrets, bot)
        assert TOKEN not in json.dumps(bot.action_secrets) and signing not in json.dumps(bot.action_signing_secret)
    t, v1 = (part.split("=", 1)[1] for part in request["headers"]["X-Frontdesk-Signature"].split(","))
    assert hmac.compare_digest(v1, hmac.new(signing.encode(), f"{t}.".encode(), hashlib.sha256).hexdigest())

    reply = bot_messages(services, conversation_id)[-1]
    assert reply.trace is not None and reply.trace["rule"] == "order_lookup"
    assert reply.trace["actions"] == ["ask_slots", "http", "reply"]
    [call] = reply.trace["http"]
    assert call["status"] == 200 and call["url"] == f"{endpoint.url}/orders/NW-123456" and call["attempts"] == 1
    stored = json.dumps([m.trace for m in bot_messages(services, conversation_id)])
    assert TOKEN not in stored and signing not in stored


def test_a_failed_lookup_apologises_and_hands_off(client, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    test_client, services = client
    with test_client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        send(ws, "m1", "my order please")
        failed = send(ws, "m2", "NW-000000")  # the endpoint answers 404
    assert failed["text"] == "Sorry, I can't find order NW-000000 right now." and failed["handoff"] is True
    with Session(services.engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.status == "queued"
    trace = bot_messages(services, conversation_id)[-1].trace or {}
    assert trace["actions"] == ["ask_slots", "http", "on_error.reply", "on_error.handoff"]
    assert trace["http"][0]["status"] == 404 and trace["http"][0]["error"] == "the endpoint answered 404"


def test_without_the_setting_the_guard_refuses_127_0_0_1(tmp_path: Path, endpoint: Endpoint) -> None:
    from server.app import create_app

    services = open_services(tmp_path / "data", endpoint, allow_private=False)
    before = len(endpoint.requests)
    try:
        with TestClient(create_app(services.settings, services)) as test_client:
            first = test_client.post("/api/v1/bots/shop/messages", json={"text": "order status"}).json()
            second = test_client.post("/api/v1/bots/shop/messages",
                                      json={"text": "NW-123456", "conversation_id": first["conversation_id"]}).json()
    finally:
        services.close()
    assert second["reply"]["text"] == "Sorry, I can't find order NW-123456 right now."
    assert second["trace"]["http"][0]["error"] == "127.0.0.1 is a loopback address, which actions may not call"
    assert len(endpoint.requests) == before


def test_the_dry_run_shows_the_request_without_sending_it(client, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    from bot.dryrun import try_rules

    _, services = client
    before = len(endpoint.requests)
    trial = try_rules(services.runtimes.get("shop"), "status of order NW-555555")
    assert len(endpoint.requests) == before
    assert trial.fired == "order_lookup" and trial.reply == "Order  is  and arrives ."
    [shown] = trial.http
    assert shown["url"] == f"{endpoint.url}/orders/NW-555555" and shown["sent"] is False
    assert shown["headers"]["Authorization"] == "Bearer [secret SHOP_TOKEN]"


def test_signing_secret_is_created_once_and_rotates(client) -> None:  # type: ignore[no-untyped-def]
    _, services = client
    with Session(services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        first = action_secrets.signing_secret(session, services.secrets, bot)
        assert first.startswith("whsec_") and action_secrets.signing_secret(session, services.secrets, bot) == first
        rotated = action_secrets.rotate_signing_secret(session, services.secrets, bot)
        assert rotated != first
        assert action_secrets.load_signing_secret(services.engine, services.secrets, bot.id) == rotated
        assert action_secrets.secret_names(services.secrets, bot) == ["SHOP_TOKEN"]
        assert action_secrets.delete_action_secret(session, services.secrets, bot, "SHOP_TOKEN")
        assert action_secrets.load_action_secrets(services.engine, services.secrets, bot.id) == {}
    assert action_secrets.reseal_action_secrets(services.engine, services.secrets) == 1
