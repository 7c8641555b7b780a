"""A crash in a stage or in the whole pipeline never loses the customer's message."""

from __future__ import annotations

from sqlmodel import Session, select

from server.tables import Message


def test_pipeline_crash_keeps_the_message_and_answers_safely(client, demo_services, monkeypatch) -> None:
    runtime = demo_services.runtimes.get("demo")

    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("model exploded")

    monkeypatch.setattr(runtime, "answer", explode)
    with client.websocket_connect("/ws/chat/demo") as ws:
        ws.send_json({"type": "message", "id": "boom", "text": "Where is my order?"})
        ack = ws.receive_json()
        final = ws.receive_json()
    assert ack["type"] == "ack"
    assert final["type"] == "final" and final["fallback"] is True and final["text"]
    with Session(demo_services.engine) as session:
        customer = session.get(Message, ack["message_id"])
        reply = session.exec(select(Message).where(Message.reply_to == ack["message_id"])).one()
    assert customer is not None and customer.text == "Where is my order?" and customer.status == "failed"
    assert "model exploded" in customer.trace["error"]
    assert reply.trace["fallback_reason"].startswith("internal error")


def test_a_failing_stage_is_traced_and_the_turn_still_answers(client, demo_services, monkeypatch) -> None:
    runtime = demo_services.runtimes.get("demo")
    stage = next(s for s in runtime.pipeline.stages if s.name == "intent")

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise ValueError("classifier broke")

    monkeypatch.setattr(stage, "run", broken)
    body = client.post("/api/v1/bots/demo/messages", json={"text": "How long does express shipping take?"}).json()
    stages = {s["stage"]: s for s in body["trace"]["stages"]}
    assert stages["intent"]["status"] == "error" and "classifier broke" in stages["intent"]["error"]
    assert "1-2 business days" in body["reply"]["text"]


def test_a_repeated_question_keeps_the_earlier_turns_in_the_history(client, demo_services, monkeypatch) -> None:
    """Only the message being answered leaves the history, not earlier turns with the same text."""
    runtime = demo_services.runtimes.get("demo")
    seen: list[list[tuple[str, str]]] = []
    original = runtime.answer

    def spy(text, history=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append([(t.role, t.text) for t in history or []])
        return original(text, history, *args, **kwargs)

    monkeypatch.setattr(runtime, "answer", spy)
    first = client.post("/api/v1/bots/demo/messages", json={"text": "Do you ship to Canada?"}).json()
    body = {"text": "Do you ship to Canada?", "conversation_id": first["conversation_id"]}
    client.post("/api/v1/bots/demo/messages", json=body)
    assert seen[0] == []
    assert [role for role, _ in seen[1]] == ["customer", "bot"]
    assert seen[1][0] == ("customer", "Do you ship to Canada?")
