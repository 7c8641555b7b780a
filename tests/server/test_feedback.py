"""POST /api/v1/conversations/{id}/feedback: validation, one thumb per reply, the error shape."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlmodel import Session, col, select

from server.tables import Bot, Conversation, Feedback, Message, Tenant


@dataclass
class Chat:
    """A conversation with one customer message and the bot's reply."""

    conversation_id: str
    customer_id: str
    reply_id: str


def make_chat(session: Session, bot_id: str) -> Chat:
    """Insert a conversation with one turn."""
    conversation = Conversation(bot_id=bot_id, channel="web")
    session.add(conversation)
    session.flush()
    customer = Message(conversation_id=conversation.id, role="customer", text="hi", status="answered")
    session.add(customer)
    session.flush()
    reply = Message(conversation_id=conversation.id, role="bot", text="hello", reply_to=customer.id, status="sent")
    session.add(reply)
    session.commit()
    return Chat(conversation.id, customer.id, reply.id)


@pytest.fixture()
def chats(demo_services) -> tuple[Chat, Chat]:  # type: ignore[no-untyped-def]
    """Two conversations of a fresh bot."""
    with Session(demo_services.engine) as session:
        tenant = Tenant(name="Feedback shop")
        session.add(tenant)
        session.flush()
        bot = Bot(tenant_id=tenant.id, slug=f"feedback-{uuid.uuid4().hex[:8]}", name="Feedback")
        session.add(bot)
        session.commit()
        return make_chat(session, bot.id), make_chat(session, bot.id)


def url(chat: Chat) -> str:
    return f"/api/v1/conversations/{chat.conversation_id}/feedback"


def stored(demo_services, conversation_id: str) -> list[Feedback]:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        query = select(Feedback).where(col(Feedback.conversation_id) == conversation_id)
        return list(session.exec(query).all())


def test_a_second_thumb_replaces_the_first(client, demo_services, chats) -> None:
    chat = chats[0]
    first = client.post(url(chat), json={"kind": "thumb", "score": 1, "message_id": chat.reply_id})
    assert first.status_code == 201 and first.json()["score"] == 1
    second = client.post(url(chat), json={"kind": "thumb", "score": -1, "message_id": chat.reply_id, "comment": "meh"})
    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    rows = stored(demo_services, chat.conversation_id)
    assert [(f.kind, f.score, f.comment, f.message_id) for f in rows] == [("thumb", -1, "meh", chat.reply_id)]


def test_csat_of_a_conversation(client, demo_services, chats) -> None:
    chat = chats[0]
    assert client.post(url(chat), json={"kind": "csat", "score": 5}).status_code == 201
    assert client.post(url(chat), json={"kind": "csat", "score": 3, "comment": "ok"}).status_code == 201
    assert [(f.kind, f.score) for f in stored(demo_services, chat.conversation_id)] == [("csat", 3)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "thumb", "score": 2, "message_id": "REPLY"}, 400, "invalid_score"),
        ({"kind": "thumb", "score": 0, "message_id": "REPLY"}, 400, "invalid_score"),
        ({"kind": "csat", "score": 6}, 400, "invalid_score"),
        ({"kind": "csat", "score": 0}, 400, "invalid_score"),
        ({"kind": "thumb", "score": 1}, 400, "missing_message"),
        ({"kind": "thumb", "score": 1, "message_id": "CUSTOMER"}, 400, "not_a_bot_message"),
        ({"kind": "thumb", "score": 1, "message_id": "OTHER"}, 404, "unknown_message"),
        ({"kind": "thumb", "score": 1, "message_id": "msg_nope"}, 404, "unknown_message"),
        ({"kind": "star", "score": 1}, 422, "bad_request"),
        ({"kind": "csat", "score": 4, "comment": "x" * 1001}, 422, "bad_request"),
        ({"kind": "csat"}, 422, "bad_request"),
    ],
)
def test_invalid_feedback_is_refused_in_the_one_error_shape(client, demo_services, chats, body, status, code) -> None:
    chat, other = chats
    ids = {"REPLY": chat.reply_id, "CUSTOMER": chat.customer_id, "OTHER": other.reply_id}
    if "message_id" in body:
        body = {**body, "message_id": ids.get(body["message_id"], body["message_id"])}
    response = client.post(url(chat), json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"code", "message"}
    assert stored(demo_services, chat.conversation_id) == []


def test_unknown_conversation(client) -> None:
    response = client.post("/api/v1/conversations/c_nope/feedback", json={"kind": "csat", "score": 4})
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_conversation"


def test_a_thumb_on_a_real_reply(client, demo_services) -> None:
    body = client.post("/api/v1/bots/demo/messages", json={"text": "How long does shipping take?"}).json()
    reply_id = body["reply"]["message_id"]
    response = client.post(
        f"/api/v1/conversations/{body['conversation_id']}/feedback",
        json={"kind": "thumb", "score": 1, "message_id": reply_id},
    )
    assert response.status_code == 201 and response.json()["message_id"] == reply_id
