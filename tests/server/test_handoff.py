"""Human handoff end to end: queue, silence, live agent messages, release, resolve and reopen."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

from server.tables import Conversation, Message, Tenant, User
from tests.conftest import SessionAuth, console_auth


@pytest.fixture()
def auth(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


def status(demo_services, conversation_id: str) -> str:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation.status


def send(ws: Any, client_id: str, text: str) -> tuple[dict, list[dict], dict]:
    """Send a message; return its ack, the chunks and the frame that ends it (final or queued)."""
    ws.send_json({"type": "message", "id": client_id, "text": text})
    ack = ws.receive_json()
    assert ack["type"] == "ack", ack
    chunks = []
    while True:
        frame = ws.receive_json()
        if frame["type"] != "chunk":
            return ack, chunks, frame
        chunks.append(frame)


def hello(ws: Any) -> str:
    ws.send_json({"type": "hello"})
    return ws.receive_json()["conversation_id"]


def queued_conversation(ws: Any) -> str:
    """A fresh conversation on ws whose customer asked for a person."""
    conversation_id = hello(ws)
    _, _, final = send(ws, "h1", "human please")
    assert final["type"] == "final" and final["handoff"] is True, final
    return conversation_id


def test_asking_for_a_person_queues_the_conversation_and_the_bot_goes_quiet(client, demo_services) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        conversation_id = queued_conversation(ws)
        assert status(demo_services, conversation_id) == "queued"
        ack, chunks, frame = send(ws, "h2", "How long does standard shipping take?")
    assert frame == {"type": "queued", "reply_to": "h2"}
    assert chunks == []
    with Session(demo_services.engine) as session:
        stored = session.exec(select(Message).where(Message.conversation_id == conversation_id)).all()
    first_reply = next(m for m in stored if m.role == "bot")
    assert [m.role for m in sorted(stored, key=lambda m: m.created_at)] == ["customer", "bot", "customer"]
    assert ack["message_id"] == next(m.id for m in stored if m.client_id == "h2")
    assert first_reply.trace["handoff"] is True and first_reply.trace["handoff_reason"] == "rule:human_agent"
    assert "+1-800-555-0199" in first_reply.text


def test_an_agent_message_arrives_live_and_release_returns_the_bot(client, demo_services, auth) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        conversation_id = queued_conversation(ws)
        posted = client.post(
            f"/api/v1/conversations/{conversation_id}/agent-messages", json={"text": "Hi, Ana here."}, auth=auth
        )
        assert posted.status_code == 200, posted.text
        body = posted.json()
        assert body["status"] == "agent" and body["message"]["role"] == "agent"
        live = ws.receive_json()
        assert live == {"type": "agent_message", "message_id": body["message"]["id"], "text": "Hi, Ana here."}
        assert send(ws, "h2", "thanks Ana")[2] == {"type": "queued", "reply_to": "h2"}

        released = client.post(f"/api/v1/conversations/{conversation_id}/release", auth=auth)
        assert released.json() == {"conversation_id": conversation_id, "status": "bot", "message": None}
        _, _, final = send(ws, "h3", "How long does standard shipping take?")
    assert final["type"] == "final" and "3-5 business days" in final["text"]
    history = client.get(f"/api/v1/conversations/{conversation_id}/messages").json()
    assert [m["role"] for m in history] == ["customer", "bot", "agent", "customer", "customer", "bot"]


def test_resolve_then_a_new_message_reopens_with_the_bot(client, demo_services, auth) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        conversation_id = queued_conversation(ws)
        resolved = client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth)
        assert resolved.json()["status"] == "resolved"
        assert ws.receive_json() == {"type": "status", "status": "resolved"}  # the widget asks for a rating
        _, _, final = send(ws, "h2", "How long does standard shipping take?")
    assert final["type"] == "final" and final["handoff"] is False
    assert "3-5 business days" in final["text"]
    assert status(demo_services, conversation_id) == "bot"


def test_rest_turns_in_a_held_conversation_get_no_reply(client, demo_services) -> None:
    first = client.post("/api/v1/bots/demo/messages", json={"text": "human please"}).json()
    assert first["status"] == "queued" and first["trace"]["handoff"] is True
    again = client.post(
        "/api/v1/bots/demo/messages", json={"text": "hello?", "conversation_id": first["conversation_id"]}
    ).json()
    assert again["reply"] is None and again["status"] == "queued"


def test_agent_routes_need_a_login_of_the_conversations_tenant(client, demo_services) -> None:
    conversation_id = client.post("/api/v1/bots/demo/messages", json={"text": "human please"}).json()[
        "conversation_id"
    ]
    url = f"/api/v1/conversations/{conversation_id}"
    assert client.post(f"{url}/agent-messages", json={"text": "hi"}).status_code == 401
    assert client.post(f"{url}/release").status_code == 401
    assert client.post(f"{url}/resolve", headers={"Authorization": "Bearer fd_wrong"}).status_code == 401
    with Session(demo_services.engine) as session:
        other = Tenant(name="Other shop")
        session.add(other)
        session.flush()
        session.add(User(tenant_id=other.id, email="agent@other.example", password_hash=PasswordHasher().hash("pw")))
        session.commit()
    stranger = client.post(
        f"{url}/agent-messages", json={"text": "hi"}, auth=console_auth(demo_services, "agent@other.example")
    )
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "unknown_conversation"
    assert status(demo_services, conversation_id) == "queued"


def test_an_illegal_transition_is_a_409_in_the_error_shape(client, demo_services, auth) -> None:
    conversation_id = client.post("/api/v1/bots/demo/messages", json={"text": "hi"}).json()["conversation_id"]
    response = client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["message"] == "cannot resolve a conversation that is 'bot'; allowed from 'bot': ['handoff']"
    take = client.post(f"/api/v1/conversations/{conversation_id}/agent-messages", json={"text": "hi"}, auth=auth)
    assert take.status_code == 409 and take.json()["error"]["code"] == "illegal_transition"
    assert status(demo_services, conversation_id) == "bot"
