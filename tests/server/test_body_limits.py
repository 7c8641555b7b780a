"""Byte caps on request bodies: the JSON API and webhooks answer 413 in the one error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.api.channels import MAX_BODY_BYTES
from server.api.ws import MAX_FRAME_BYTES
from server.ratelimit import RateLimitSettings

TOO_LARGE = {"error": {"code": "too_large", "message": "request body too large"}}


@pytest.fixture()
def client(shop_services) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The app with a 4 KiB cap on JSON bodies and no rate limits."""
    from server.app import create_app

    limits = RateLimitSettings(enabled=False, max_json_body_bytes=4096)
    with TestClient(create_app(shop_services.settings.model_copy(update={"rate_limits": limits}), shop_services)) as c:
        yield c


def padded(size: int) -> bytes:
    """A JSON message body of about size bytes (the padding is an ignored field)."""
    return json.dumps({"text": "hello", "pad": "x" * size}).encode()


def test_a_message_body_over_the_cap_is_413_before_it_is_parsed(client: TestClient) -> None:
    response = client.post("/api/v1/bots/shop/messages", content=padded(5000),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json() == TOO_LARGE


def test_a_chunked_body_without_length_is_cut_off_too(client: TestClient) -> None:
    def pieces() -> Iterator[bytes]:
        body = padded(20_000)
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    response = client.post("/api/v1/bots/shop/messages", content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json() == TOO_LARGE


def test_a_body_under_the_cap_is_answered(client: TestClient) -> None:
    response = client.post("/api/v1/bots/shop/messages", content=padded(3000),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["reply"]["text"]


def test_the_other_json_apis_share_the_cap(client: TestClient) -> None:
    body = {"text": "x" * 5000}
    assert client.post("/api/v1/conversations/c_x/agent-messages", json=body).status_code == 413
    assert client.post("/api/v1/conversations/c_x/feedback", json=body).status_code == 413


def test_a_webhook_body_over_its_cap_is_413(client: TestClient) -> None:
    response = client.post("/webhooks/generic/shop/ch_x", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_websocket_frame_over_its_cap_is_refused_and_the_socket_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_text(json.dumps({"type": "message", "id": "big", "text": "x" * MAX_FRAME_BYTES}))
        error = ws.receive_json()
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    assert error["type"] == "error" and error["code"] == "too_long"
