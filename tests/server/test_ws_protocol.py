"""The websocket chat protocol of docs/protocol.md, against the seeded demo bot."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from server.tables import Message


def turn(ws: Any, client_id: str, text: str) -> tuple[dict, list[dict], dict]:
    """Send a message; return its ack, the chunks and the final frame."""
    ws.send_json({"type": "message", "id": client_id, "text": text})
    ack = ws.receive_json()
    chunks = []
    while True:
        frame = ws.receive_json()
        if frame["type"] == "chunk":
            chunks.append(frame)
            continue
        return ack, chunks, frame


def test_hello_ack_chunks_final_with_citations(client) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "hello"})
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["history"] == []
        assert ready["bot"]["slug"] == "demo" and ready["bot"]["greeting"]
        ack, chunks, final = turn(ws, "m1", "How long does standard shipping take?")
    assert ack == {
        "type": "ack",
        "id": "m1",
        "message_id": ack["message_id"],
        "conversation_id": ready["conversation_id"],
    }
    assert chunks and all(c["reply_to"] == "m1" for c in chunks)
    assert final["type"] == "final" and final["reply_to"] == "m1"
    assert "".join(c["text"] for c in chunks).strip() == final["text"]
    assert "3-5 business days" in final["text"]
    assert final["citations"][0]["document"] == "Shipping times"
    assert final["citations"][0]["url"].startswith("/kb/demo/shipping-times")
    assert final["fallback"] is False


def test_errors_are_frames_and_the_socket_stays_open(client) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_json({"type": "message", "text": "no id"})
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_json({"type": "message", "id": "long", "text": "x" * 5000})
        error = ws.receive_json()
        assert error["code"] == "too_long" and error["reply_to"] == "long"
        ws.send_json({"type": "message", "id": "blank", "text": "   "})
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_json({"type": "hello", "conversation_id": "c_does_not_exist"})
        assert ws.receive_json()["code"] == "unknown_conversation"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        _, _, final = turn(ws, "ok", "Do you ship to Canada?")
        assert final["type"] == "final"


def test_resume_after_reconnect_and_redelivery_is_idempotent(client, demo_services) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        _, _, first = turn(ws, "r1", "What is your returns window?")
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "hello", "conversation_id": conversation_id})
        ready = ws.receive_json()
        assert ready["conversation_id"] == conversation_id
        assert [m["role"] for m in ready["history"]] == ["customer", "bot"]
        assert ready["history"][0]["client_id"] == "r1"
        ack, chunks, again = turn(ws, "r1", "What is your returns window?")
    assert again["message_id"] == first["message_id"] and again["text"] == first["text"]
    assert chunks == []
    with Session(demo_services.engine) as session:
        stored = session.exec(select(Message).where(Message.conversation_id == conversation_id)).all()
    assert len(stored) == 2


def test_unknown_bot_gets_an_error_and_close_code(client) -> None:
    import pytest
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/ws/chat/nope") as ws:
        assert ws.receive_json()["code"] == "unknown_bot"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_message_without_hello_starts_a_conversation(client) -> None:
    with client.websocket_connect("/ws/chat/demo") as ws:
        ack, _, final = turn(ws, "x1", "hello")
    assert ack["conversation_id"].startswith("c_")
    assert final["intent"] == "greeting"


def test_a_new_message_cancels_the_reply_in_progress(client, demo_services, monkeypatch) -> None:
    """The first reply stops streaming when the customer sends another message; both are stored."""
    from bot.generation.extractive import ExtractiveGenerator

    original = ExtractiveGenerator.stream
    held: list[bool] = []
    question = "How long does standard shipping take? (cancel test)"

    def slow_stream(self, request):  # type: ignore[no-untyped-def]
        # Only this test's first turn is held: a turn another test left running in the shared
        # services must not take the hold (CI once saw that, and the hold timed out).
        # The hold comes right after the first piece, before the real stream is asked for the next
        # one: the real stream stops without a word once the turn is cancelled, so a hold placed
        # before the second piece was skipped whenever the second message won the race to cancel
        # (the worker thread descheduled between the two pieces on a loaded machine; held == []).
        for n, piece in enumerate(original(self, request)):
            yield piece
            if n == 0 and request.question == question and not held:
                held.append(request.cancel.wait(timeout=60))  # True at once if already cancelled

    monkeypatch.setattr(ExtractiveGenerator, "stream", slow_stream)
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "message", "id": "first", "text": question})
        ack = ws.receive_json()
        assert ack["type"] == "ack"
        assert ws.receive_json()["type"] == "chunk"
        ws.send_json({"type": "message", "id": "second", "text": "Do you ship to Canada?"})
        frames = []
        while not (frames and frames[-1].get("type") == "final" and frames[-1].get("reply_to") == "second"):
            frames.append(ws.receive_json())
    assert held == [True]
    assert not any(f["type"] == "final" and f["reply_to"] == "first" for f in frames)
    with Session(demo_services.engine) as session:
        first = session.exec(select(Message).where(Message.id == ack["message_id"])).one()
        reply = session.exec(select(Message).where(Message.reply_to == first.id)).one()
    assert reply.trace["cancelled"] is True
