"""REST chat and the one error shape."""

from __future__ import annotations


def test_post_message_returns_a_cited_answer_with_trace(client) -> None:
    response = client.post("/api/v1/bots/demo/messages", json={"text": "Which payment methods do you accept?"})
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"].startswith("c_")
    assert body["reply"]["citations"], body
    trace = body["trace"]
    assert [s["stage"] for s in trace["stages"]] == ["intent", "rules", "retrieve", "handoff", "generate"]
    assert trace["passages"] and trace["backend"] == "extractive"
    assert set(trace["latency_ms"]) == {"intent", "rules", "handoff", "retrieve", "generate"}


def test_conversation_continues_and_history_is_listed(client) -> None:
    first = client.post("/api/v1/bots/demo/messages", json={"text": "hi"}).json()
    conversation_id = first["conversation_id"]
    client.post(
        "/api/v1/bots/demo/messages", json={"text": "How do I reset my password?", "conversation_id": conversation_id}
    )
    messages = client.get(f"/api/v1/conversations/{conversation_id}/messages").json()
    assert [m["role"] for m in messages] == ["customer", "bot", "customer", "bot"]
    assert messages[1]["intent"] == "greeting"


def test_client_message_id_makes_retries_idempotent(client) -> None:
    body = {"text": "Do you ship to PO boxes?", "client_message_id": "retry-1"}
    first = client.post("/api/v1/bots/demo/messages", json=body).json()
    body["conversation_id"] = first["conversation_id"]
    first = client.post("/api/v1/bots/demo/messages", json=body).json()
    second = client.post("/api/v1/bots/demo/messages", json=body).json()
    assert second["reply"]["message_id"] == first["reply"]["message_id"]
    assert len(client.get(f"/api/v1/conversations/{first['conversation_id']}/messages").json()) == 2


def test_errors_share_one_shape(client) -> None:
    empty = client.post("/api/v1/bots/demo/messages", json={"text": ""})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "bad_request"
    unknown = client.post("/api/v1/bots/nope/messages", json={"text": "hi"})
    assert unknown.status_code == 404 and unknown.json() == {
        "error": {"code": "unknown_bot", "message": "no bot named 'nope'"}
    }
    too_long = client.post("/api/v1/bots/demo/messages", json={"text": "a" * 5000})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "too_long"
    missing = client.get("/api/v1/conversations/c_nope/messages")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_conversation"
    assert client.get("/no/such/page").json()["error"]["code"] == "not_found"


def test_openapi_docs_and_pages(client) -> None:
    assert "/api/v1/bots/{bot_slug}/messages" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "widget.js" in page.text
    article = client.get("/kb/demo/shipping-times")
    assert article.status_code == 200 and 'id="standard-shipping"' in article.text
    assert client.get("/kb/demo/no-such-doc").status_code == 404
