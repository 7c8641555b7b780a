"""Business hours and agent presence end to end: the hours API (owners/admins), heartbeats, and a
handoff outside hours or with nobody online that says the offline message and still queues."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from server.tables import AgentPresence, Bot, Conversation, ReplyRule, Tenant, User, utcnow
from tests.conftest import console_auth, make_settings

ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PASSWORD = "pw-hours-1234"


@pytest.fixture()
def deployment(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, Any]]]:
    """Bot 'shop' with a handoff rule; users of each role, and one of another tenant."""
    from knowledge.config import KnowledgeSettings
    from server.app import create_app
    from server.context import Services
    from server.seed import create_bot
    from tests.fakes import HashEmbedder

    settings = make_settings(tmp_path / "data", knowledge=KnowledgeSettings(reranker="none"))
    services = Services.open(settings)
    services.embedders._models[(settings.knowledge.embedding_model, settings.knowledge.device)] = HashEmbedder()
    hashed = PasswordHasher().hash(PASSWORD)
    users: dict[str, Any] = {}
    with Session(services.engine) as session:
        tenant, other = Tenant(name="Shop"), Tenant(name="Other")
        session.add_all([tenant, other])
        session.commit()
        bot = create_bot(session, tenant.id, "shop", "Shop")
        session.add(ReplyRule(bot_id=bot.id, name="human", priority=1,
                              definition={"when": {"keywords": ["person"]}, "then": [{"handoff": True}]}))
        for role, tenant_id in (("owner", tenant.id), ("agent", tenant.id), ("viewer", tenant.id),
                                ("stranger", other.id)):
            email = f"{role}@shop.example"
            session.add(User(tenant_id=tenant_id, email=email, password_hash=hashed,
                             role="owner" if role == "stranger" else role))
            users[role] = email
        session.commit()
    users = {role: console_auth(services, email) for role, email in users.items()}
    with TestClient(create_app(settings, services)) as client:
        yield client, services, users
    services.close()


def ask_for_a_person(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/v1/bots/shop/messages", json={"text": "a person please"})
    assert response.status_code == 200, response.text
    return response.json()


def status(services: Any, conversation_id: str) -> str:
    with Session(services.engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation.status


def test_the_hours_api_validates_stores_and_is_for_managers(deployment) -> None:  # type: ignore[no-untyped-def]
    client, _, users = deployment
    url = "/api/v1/bots/shop/hours"
    empty = client.get(url, auth=users["owner"]).json()
    assert empty["hours"] is None and empty["open"] is True
    hours = {"timezone": "Europe/Paris", "weekly": {"mon": ["09:00-17:00"]}, "holidays": ["2026-12-25"],
             "offline_message": "Closed. Back {{ next_open_text }}."}
    saved = client.put(url, json=hours, auth=users["owner"])
    assert saved.status_code == 200, saved.text
    assert saved.json()["hours"] == {**hours, "require_agent_online": True}
    assert client.get(url, auth=users["owner"]).json()["hours"]["timezone"] == "Europe/Paris"

    bad = client.put(url, json={"timezone": "Mars/Olympus"}, auth=users["owner"])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_hours"
    assert "unknown timezone 'Mars/Olympus'" in bad.json()["error"]["message"]
    assert client.get(url, auth=users["owner"]).json()["hours"]["timezone"] == "Europe/Paris"  # unchanged

    assert client.put(url, json=hours, auth=users["agent"]).status_code == 403
    assert client.get(url, auth=users["viewer"]).status_code == 403
    assert client.get(url, auth=users["stranger"]).status_code == 404
    assert client.get(url).status_code == 401
    assert client.delete(url, auth=users["owner"]).json()["hours"] is None


def test_heartbeats_make_agents_online_for_a_minute(deployment) -> None:  # type: ignore[no-untyped-def]
    client, services, users = deployment
    assert client.get("/api/v1/agents/online", auth=users["agent"]).json()["count"] == 0
    beat = client.post("/api/v1/agents/heartbeat", auth=users["agent"]).json()
    assert beat["counted"] is True and beat["online_seconds"] == 60
    assert client.post("/api/v1/agents/heartbeat", auth=users["agent"]).status_code == 200  # again: an update
    assert client.post("/api/v1/agents/heartbeat", auth=users["viewer"]).json()["counted"] is False
    assert client.post("/api/v1/agents/heartbeat", auth=users["stranger"]).status_code == 200
    online = client.get("/api/v1/agents/online", auth=users["owner"]).json()
    assert [a["email"] for a in online["agents"]] == ["agent@shop.example"] and online["count"] == 1
    with Session(services.engine) as session:  # two minutes pass without a heartbeat
        session.exec(update(AgentPresence).values(last_seen=utcnow() - timedelta(minutes=2)))  # type: ignore[call-overload]
        session.commit()
    assert client.get("/api/v1/agents/online", auth=users["owner"]).json()["count"] == 0


def test_a_handoff_with_nobody_online_says_the_offline_message_and_queues(deployment) -> None:  # type: ignore[no-untyped-def]
    client, services, users = deployment
    hours = {"timezone": "UTC", "weekly": ALWAYS, "offline_message": "Nobody is here ({{ reason }})."}
    assert client.put("/api/v1/bots/shop/hours", json=hours, auth=users["owner"]).status_code == 200
    turn = ask_for_a_person(client)
    assert turn["reply"]["text"] == "Nobody is here (no agent online)."
    assert turn["status"] == "queued" and status(services, turn["conversation_id"]) == "queued"
    assert turn["trace"]["handoff"] is True and turn["trace"]["offline"] == "no agent online"

    client.post("/api/v1/agents/heartbeat", auth=users["agent"])
    staffed = ask_for_a_person(client)
    assert staffed["trace"]["offline"] is None and staffed["status"] == "queued"
    assert "Nobody is here" not in staffed["reply"]["text"]


def test_outside_business_hours_the_offline_message_names_the_next_opening(deployment) -> None:  # type: ignore[no-untyped-def]
    client, services, users = deployment
    client.post("/api/v1/agents/heartbeat", auth=users["agent"])
    today = utcnow()
    closed_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[today.weekday()]
    weekly = {day: ["00:00-24:00"] for day in ALWAYS if day != closed_day}  # closed all of today (UTC)
    assert client.put("/api/v1/bots/shop/hours", json={"timezone": "UTC", "weekly": weekly},
                      auth=users["owner"]).status_code == 200
    turn = ask_for_a_person(client)
    assert turn["trace"]["offline"].endswith("is outside business hours")
    assert "we're back tomorrow at 00:00" in turn["reply"]["text"]  # the default offline message
    assert status(services, turn["conversation_id"]) == "queued"
    state = client.get("/api/v1/bots/shop/hours", auth=users["owner"]).json()
    assert state["open"] is False and state["next_open"] is not None


def test_the_profile_follows_hours_changed_by_another_worker(deployment) -> None:  # type: ignore[no-untyped-def]
    _, services, _ = deployment
    registry = services.runtimes
    assert registry.get("shop").profile.hours is None
    with Session(services.engine) as session:  # another process writes the hours
        session.exec(update(Bot).where(col(Bot.slug) == "shop").values(  # type: ignore[call-overload]
            hours={"timezone": "Asia/Tokyo", "weekly": ALWAYS}))
        session.commit()
    assert registry.get("shop").profile.hours is None  # checked at most every few seconds
    mark, _ = registry._marks[("profile", "shop")]
    registry._marks[("profile", "shop")] = (mark, 0.0)  # as if CHANGE_CHECK_SECONDS had passed
    profile = registry.get("shop").profile
    assert profile.hours is not None and profile.timezone == "Asia/Tokyo"
