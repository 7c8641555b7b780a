"""Rate limits: token buckets, client addresses behind proxies, HTTP 429 and websocket frames, Redis sharing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, select

from server.ratelimit import (
    MemoryBuckets,
    RateLimiter,
    RateLimitSettings,
    Rule,
    client_ip,
    credential_key,
    http_scopes,
    parse_networks,
)
from server.tables import Message

REDIS_URL = "redis://127.0.0.1:6379/13"


@contextmanager
def limited_client(services: Any, **limits: Any) -> Iterator[TestClient]:
    """A TestClient whose app has these rate limits (the services stay shared)."""
    from server.app import create_app

    settings = services.settings.model_copy(update={"rate_limits": RateLimitSettings(**limits)})
    with TestClient(create_app(settings, services)) as client:
        yield client


def test_a_bucket_allows_a_burst_then_the_steady_rate() -> None:
    buckets, rule = MemoryBuckets(), Rule.of(60, 0.05)  # 1 token/s, capacity ceil(3) = 3
    assert rule == Rule(1.0, 3.0)
    assert [buckets.take("k", rule, now=100.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = buckets.take("k", rule, now=100.0)
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    assert buckets.take("k", rule, now=100.5).allowed is False  # half a token back
    assert buckets.take("k", rule, now=101.01).allowed is True
    assert buckets.take("other", rule, now=100.0).allowed is True  # keys do not share


def test_refilled_buckets_are_pruned() -> None:
    buckets, rule = MemoryBuckets(max_keys=10), Rule(1.0, 2.0)
    for i in range(10):
        buckets.take(f"k{i}", rule, now=0.0)
    buckets.take("late", rule, now=5.0)  # the 11th key triggers a prune: the first ten refilled by t=1
    assert len(buckets) == 1


def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8", "192.168.1.5"])
    assert client_ip("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"  # a client cannot pick its address
    assert client_ip("10.1.2.3", "1.2.3.4", proxies) == "1.2.3.4"
    assert client_ip("10.1.2.3", "6.6.6.6, 1.2.3.4, 192.168.1.5", proxies) == "1.2.3.4"  # nearest untrusted hop
    assert client_ip("10.1.2.3", None, proxies) == "10.1.2.3"
    assert client_ip("10.1.2.3", "10.0.0.7", proxies) == "10.0.0.7"  # only proxies: the farthest one
    assert client_ip("10.1.2.3", "1.2.3.4", []) == "10.1.2.3"  # default: no proxy is trusted


def test_a_bad_trusted_proxy_is_a_clear_settings_error() -> None:
    with pytest.raises(ValidationError, match="'not-an-ip' is not an IP address or CIDR"):
        RateLimitSettings(trusted_proxies=["not-an-ip"])


def test_requests_are_counted_in_their_scopes() -> None:
    assert http_scopes("POST", "/webhooks/telegram/shop/ch_1", None, "ip") == [("webhook", "ip")]
    assert http_scopes("GET", "/api/v1/widget/pk_1/config", None, "ip") == [("widget", "ip")]
    assert http_scopes("POST", "/api/v1/bots/shop/messages", None, "ip") == [("rest_message", "ip")]
    assert http_scopes("GET", "/api/v1/bots", "Bearer k", "ip") == [("api_key", credential_key("Bearer k"))]
    assert http_scopes("GET", "/admin/", "Basic x", "ip") == []
    assert "k" not in credential_key("Bearer k") and len(credential_key("Bearer k")) == 32


def test_rest_messages_over_the_ip_limit_get_429_with_retry_after(shop_services) -> None:
    with limited_client(shop_services, rest_messages_per_minute=2, burst_share=1.0) as client:
        codes = [client.post("/api/v1/bots/shop/messages", json={"text": f"hi {i}"}).status_code for i in range(2)]
        refused = client.post("/api/v1/bots/shop/messages", json={"text": "one too many"})
    assert codes == [200, 200]
    assert refused.status_code == 429
    message = "too many requests (rest_message); retry later"
    assert refused.json() == {"error": {"code": "rate_limited", "message": message}}
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    with Session(shop_services.engine) as session:
        texts = session.exec(select(Message.text).where(Message.role == "customer")).all()
    assert "one too many" not in texts  # refused before anything is stored


def test_each_api_key_has_its_own_allowance(shop_services) -> None:
    with limited_client(shop_services, api_key_requests_per_minute=2, burst_share=1.0) as client:
        first = [client.get("/api/v1/bots", headers={"Authorization": "Bearer one"}).status_code for _ in range(3)]
        other = client.get("/api/v1/bots", headers={"Authorization": "Bearer two"}).status_code
        anonymous = client.get("/api/v1/bots").status_code
    assert first == [401, 401, 429] and other == 401 and anonymous == 401


def test_a_conversation_over_its_limit_is_refused_over_rest(shop_services) -> None:
    with limited_client(shop_services, conversation_messages_per_minute=2, burst_share=1.0) as client:
        started = client.post("/api/v1/bots/shop/messages", json={"text": "first"}).json()
        body = {"text": "again", "conversation_id": started["conversation_id"]}
        again = client.post("/api/v1/bots/shop/messages", json=body)
        refused = client.post("/api/v1/bots/shop/messages", json=body)
        fresh = client.post("/api/v1/bots/shop/messages", json={"text": "a new conversation"})
    assert again.status_code == 200
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert fresh.status_code == 200


def test_widget_api_and_webhooks_are_limited_per_ip(shop_services) -> None:
    with limited_client(shop_services, widget_requests_per_minute=2, webhooks_per_minute=1, burst_share=1.0) as client:
        widget = [client.get("/api/v1/widget/pk_nope/config", headers={"Origin": "https://shop.test"})
                  for _ in range(3)]
        hooks = [client.post("/webhooks/generic/shop/ch_nope", content=b"{}").status_code for _ in range(2)]
    assert [r.status_code for r in widget] == [404, 404, 429]
    assert widget[2].headers["access-control-allow-origin"] == "https://shop.test"  # the page can read why
    assert hooks[1] == 429


def test_limits_can_be_turned_off(shop_services) -> None:
    with limited_client(shop_services, enabled=False, api_key_requests_per_minute=1) as client:
        codes = [client.get("/api/v1/bots", headers={"Authorization": "Bearer k"}).status_code for _ in range(5)]
    assert codes == [401] * 5


def test_websocket_connects_over_the_limit_get_an_error_frame_and_close(shop_services) -> None:
    from starlette.websockets import WebSocketDisconnect

    with limited_client(shop_services, ws_connects_per_minute=2, burst_share=1.0) as client:
        for _ in range(2):
            with client.websocket_connect("/ws/chat/shop") as ws:
                ws.send_json({"type": "ping"})
                assert ws.receive_json() == {"type": "pong"}
        with client.websocket_connect("/ws/chat/shop") as ws:
            frame = ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
    assert frame["type"] == "error" and frame["code"] == "rate_limited" and frame["retry_after"] >= 1
    assert closed.value.code == 1013


def test_websocket_messages_over_the_conversation_limit_are_refused_and_the_socket_stays_open(shop_services) -> None:
    with limited_client(shop_services, conversation_messages_per_minute=2, burst_share=1.0) as client, \
            client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        for n in range(2):
            ws.send_json({"type": "message", "id": f"m{n}", "text": f"question {n}"})
            while ws.receive_json()["type"] != "final":
                pass
        ws.send_json({"type": "message", "id": "m2", "text": "one too many"})
        refused = ws.receive_json()
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # still open
    assert refused["code"] == "rate_limited" and refused["reply_to"] == "m2" and refused["retry_after"] >= 1
    with Session(shop_services.engine) as session:
        texts = session.exec(select(Message.text).where(Message.conversation_id == conversation_id)).all()
    assert "one too many" not in texts and "question 1" in texts


def test_websocket_frames_over_the_ip_limit_are_refused(shop_services) -> None:
    with limited_client(shop_services, ws_messages_per_minute=3, burst_share=1.0) as client, \
            client.websocket_connect("/ws/chat/shop") as ws:
        replies = []
        for _ in range(4):
            ws.send_json({"type": "ping"})
            replies.append(ws.receive_json())
    assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error"]
    assert replies[3]["code"] == "rate_limited"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at 127.0.0.1 not reachable: {exc}")


def test_workers_share_buckets_through_redis() -> None:
    _redis_or_skip()
    settings = RateLimitSettings(api_key_requests_per_minute=3, burst_share=1.0)
    key = f"test-{uuid.uuid4().hex}"

    async def scenario() -> list[bool]:
        worker_a, worker_b = RateLimiter(settings, REDIS_URL), RateLimiter(settings, REDIS_URL)
        try:
            hits = [worker_a, worker_b, worker_a, worker_b]
            return [(await w.hit("api_key", key)).allowed for w in hits]
        finally:
            await worker_a.aclose()
            await worker_b.aclose()

    assert asyncio.run(scenario()) == [True, True, True, False]


def test_redis_gone_falls_back_to_local_buckets_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    settings = RateLimitSettings(api_key_requests_per_minute=2, burst_share=1.0)

    async def scenario() -> list[bool]:
        limiter = RateLimiter(settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            return [(await limiter.hit("api_key", "k")).allowed for _ in range(3)]
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.WARNING, logger="server.ratelimit"):
        assert asyncio.run(scenario()) == [True, True, False]
    assert "redis unreachable" in caplog.text
    assert caplog.text.count("redis unreachable") == 1  # said once, not per request
