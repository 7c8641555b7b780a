"""Rules in real conversations: the demo's order-status flow survives a reconnect and a worker
restart, attributes persist, and the websocket's final frame carries quick replies."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import Session, select

from server.chat import ChatService
from server.context import Services
from server.tables import Bot, Conversation, ReplyRule


def send(ws: Any, client_id: str, text: str) -> dict:
    """Send a message; return the frame that ends its turn."""
    ws.send_json({"type": "message", "id": client_id, "text": text})
    assert ws.receive_json()["type"] == "ack"
    while True:
        frame = ws.receive_json()
        if frame["type"] != "chunk":
            return frame


def stored(demo_services, conversation_id: str) -> Conversation:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation


def test_a_flow_survives_a_reconnect_and_a_worker_restart(client, demo_services) -> None:  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        asked = send(ws, "f1", "Can you check my order status?")
    assert asked["type"] == "final" and "What's your order number?" in asked["text"]
    assert asked["quick_replies"] == [] and asked["handoff"] is False
    flow = stored(demo_services, conversation_id).flow
    assert flow and flow["active"]["asking"] == "order_number"

    with client.websocket_connect("/ws/chat/demo") as ws:  # the customer comes back on a new socket
        ws.send_json({"type": "hello", "conversation_id": conversation_id})
        assert ws.receive_json()["type"] == "ready"
        reask = send(ws, "f2", "hmm, not sure")
    assert "starts with NW-" in reask["text"]
    assert stored(demo_services, conversation_id).flow["active"]["reasks"] == 1

    # a fresh process: new runtimes and chat service, same database
    restarted = Services(demo_services.settings, demo_services.engine, demo_services.embedders)
    with Session(demo_services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "demo")).one()
        conversation = session.get(Conversation, conversation_id)
    outcome = asyncio.run(ChatService(restarted).turn(bot, conversation, "It's nw-123456", "f3"))
    reply = outcome.reply
    assert reply is not None
    assert "status of order NW-123456" in reply.text and reply.citations  # the knowledge action answered too
    assert reply.trace["rule"] == "order_status_lookup"
    assert [s["step"] for s in reply.trace["flow"]] == ["filled", "completed"]
    assert reply.trace["quick_replies"] == [{"title": "Talk to a person", "payload": "I'd like to talk to a person"}]
    assert stored(demo_services, conversation_id).flow == {"slots": {"order_number": "NW-123456"}}


def test_final_frame_carries_quick_replies_and_cancel_stops_the_flow(client, demo_services) -> None:  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        done = send(ws, "q1", "what's the status of order NW-483920")  # the number is in the message
        assert done["quick_replies"] == [{"title": "Talk to a person", "payload": "I'd like to talk to a person"}]
        assert done["citations"] and "NW-483920" in done["text"]
        send(ws, "q2", "order status")
        cancelled = send(ws, "q3", "cancel")
    assert cancelled["text"].startswith("No problem, I've stopped.")
    assert stored(demo_services, conversation_id).flow == {"slots": {"order_number": "NW-483920"}}


def test_tags_and_attributes_set_by_rules_are_stored_on_the_conversation(client, demo_services) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "demo")).one()
        rule = ReplyRule(bot_id=bot.id, name="zz_tag_upset", priority=1, definition={
            "when": {"sentiment": "negative", "keywords": ["zorblax"]},
            "then": [{"tag": "upset"}, {"set_attribute": {"name": "last_upset", "value": "{{ message }}"}}],
        })
        session.add(rule)
        session.commit()
        rule_id = rule.id
    demo_services.runtimes.reload_rules("demo")
    try:
        body = client.post("/api/v1/bots/demo/messages", json={"text": "zorblax is terrible"}).json()
        conversation = stored(demo_services, body["conversation_id"])
        assert conversation.attributes == {"tags": ["upset"], "last_upset": "zorblax is terrible"}
        assert body["trace"]["rules_applied"] == ["zz_tag_upset"]
        assert body["reply"]["quick_replies"] == []
    finally:
        with Session(demo_services.engine) as session:
            session.delete(session.get(ReplyRule, rule_id))
            session.commit()
        demo_services.runtimes.reload_rules("demo")
