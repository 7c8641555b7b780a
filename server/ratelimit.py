"""Rate limits: token buckets per client IP, per conversation and per API key.

Each limited *scope* (websocket connects, websocket messages, REST message posts, the widget API,
webhooks, messages of one conversation, REST calls of one API key) has an allowance per minute.
A bucket holds `burst_share` of that allowance and refills continuously, so a client may send a
short burst and then the steady rate. Buckets live in this process by default; with
FRONTDESK_REDIS_URL set they live in Redis (one atomic Lua script per hit, clocked by Redis's own
TIME) so that several workers share them. If Redis stops answering, the limiter falls back to the
in-process buckets and logs it, rather than refusing or waving through every request.

Over the limit, HTTP answers 429 with Retry-After in the one error shape; the websocket sends an
error frame {"type": "error", "code": "rate_limited", "retry_after": s} and stays open.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import FrontdeskError

log = logging.getLogger(__name__)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimitSettings(BaseModel):
    """Rate, size, queue and shutdown limits (FRONTDESK_RATE_LIMITS__*)."""

    enabled: bool = Field(default=True, description="Turn every rate limit off (load tests, trusted networks).")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed; default none.",
    )
    burst_share: float = Field(
        default=0.25, gt=0, le=1, description="Share of a minute's allowance a client may spend at once."
    )
    ws_connects_per_minute: int = Field(default=60, ge=1, description="Websocket connects per client IP.")
    ws_messages_per_minute: int = Field(default=120, ge=1, description="Websocket frames per client IP.")
    rest_messages_per_minute: int = Field(default=60, ge=1, description="REST message posts per client IP.")
    widget_requests_per_minute: int = Field(default=120, ge=1, description="Widget API calls per client IP.")
    webhooks_per_minute: int = Field(default=1200, ge=1, description="Webhook calls per sender IP.")
    conversation_messages_per_minute: int = Field(default=20, ge=1, description="Customer messages per conversation.")
    api_key_requests_per_minute: int = Field(
        default=600, ge=1, description="REST calls per API key or console user (per Authorization header)."
    )
    max_json_body_bytes: int = Field(
        default=64 * 1024, ge=1024,
        description="Largest non-multipart body sent to /api/ (uploads have their own limits).",
    )
    max_queued_turns: int = Field(
        default=32, ge=0, description="Turns that may wait for a pipeline slot; more get a 'busy' answer."
    )
    busy_retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After sent with a 'busy' answer.")
    drain_seconds: float = Field(
        default=20.0, ge=0, description="On SIGTERM, how long turns in progress may run before the process stops."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, values: list[str]) -> list[str]:
        parse_networks(values)
        return values

    def per_minute(self, scope: str) -> int:
        """The allowance per minute of a scope (ValueError for an unknown one)."""
        try:
            return int(getattr(self, SCOPES[scope]))
        except KeyError:
            raise ValueError(f"unknown rate-limit scope {scope!r}; expected one of {', '.join(SCOPES)}") from None


SCOPES = {
    "ws_connect": "ws_connects_per_minute",
    "ws_message": "ws_messages_per_minute",
    "rest_message": "rest_messages_per_minute",
    "widget": "widget_requests_per_minute",
    "webhook": "webhooks_per_minute",
    "conversation": "conversation_messages_per_minute",
    "api_key": "api_key_requests_per_minute",
}


class RetryLater(FrontdeskError):
    """A refusal the caller may retry after `retry_after` seconds (HTTP sends Retry-After)."""

    def __init__(self, message: str, retry_after: float, code: str, status: int) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers for the refusal."""
        return {"Retry-After": str(self.retry_after)}

    def frame(self, reply_to: str | None = None) -> dict[str, Any]:
        """The websocket error frame for the refusal."""
        frame: dict[str, Any] = {
            "type": "error", "code": self.code, "message": self.message, "retry_after": self.retry_after,
        }
        if reply_to:
            frame["reply_to"] = reply_to
        return frame


class RateLimited(RetryLater):
    """Too many requests in a scope: HTTP 429 / websocket error `rate_limited`."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many requests ({scope}); retry later", retry_after, "rate_limited", 429)


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit on a bucket."""

    allowed: bool
    retry_after: float = 0.0


@dataclass(frozen=True)
class Rule:
    """A bucket's shape: refill rate (tokens per second) and capacity."""

    rate: float
    capacity: float

    @classmethod
    def of(cls, per_minute: int, burst_share: float) -> Rule:
        """From an allowance per minute and the share of it a burst may spend."""
        return cls(per_minute / 60.0, max(1.0, math.ceil(per_minute * burst_share)))


class MemoryBuckets:
    """Token buckets in this process; idle full buckets are dropped now and then."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, stamp, full_after)

    def take(self, key: str, rule: Rule, now: float | None = None) -> Decision:
        """Take one token from key's bucket if there is one."""
        now = time.monotonic() if now is None else now
        tokens, stamp, _ = self._buckets.get(key, (rule.capacity, now, now))
        tokens = min(rule.capacity, tokens + max(0.0, now - stamp) * rule.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now, now + (rule.capacity - tokens) / rule.rate)
        if len(self._buckets) > self.max_keys:
            self.prune(now)
        return Decision(allowed, 0.0 if allowed else (1.0 - tokens) / rule.rate)

    def prune(self, now: float) -> None:
        """Forget buckets that have refilled (they behave as new ones)."""
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}

    def __len__(self) -> int:
        return len(self._buckets)


# KEYS[1] bucket; ARGV rate (tokens/s), capacity. Returns {allowed (0|1), retry_after (string)}.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(data[1]) or capacity
local stamp = tonumber(data[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisBuckets:
    """Token buckets in Redis, shared by every worker; falls back to memory while Redis is away."""

    def __init__(self, url: str, prefix: str = "frontdesk:rl:") -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self.fallback = MemoryBuckets()
        self._client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(TOKEN_BUCKET_LUA)
        self._degraded_since: float | None = None

    async def take(self, key: str, rule: Rule) -> Decision:
        """Take one token from key's shared bucket (or the local one while Redis fails)."""
        import redis

        try:
            allowed, wait = await self._script(keys=[self.prefix + key], args=[rule.rate, rule.capacity])
        except (redis.RedisError, OSError) as exc:
            if self._degraded_since is None:
                log.warning("rate limits: redis unreachable (%s); using this worker's own buckets", exc)
                self._degraded_since = time.monotonic()
            return self.fallback.take(key, rule)
        if self._degraded_since is not None:
            log.warning("rate limits: redis is back; buckets are shared again")
            self._degraded_since = None
        return Decision(bool(int(allowed)), float(wait))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


class RateLimiter:
    """Checks hits against the configured allowances; one per app."""

    def __init__(self, settings: RateLimitSettings, redis_url: str | None = None) -> None:
        self.settings = settings
        self.trusted = parse_networks(settings.trusted_proxies)
        self.memory = MemoryBuckets()
        self.redis = RedisBuckets(redis_url) if redis_url and settings.enabled else None
        self.rules = {scope: Rule.of(settings.per_minute(scope), settings.burst_share) for scope in SCOPES}

    async def hit(self, scope: str, key: str) -> Decision:
        """Count one hit of key in scope."""
        if not self.settings.enabled:
            return Decision(True)
        rule = self.rules[scope]
        bucket = f"{scope}:{key}"
        if self.redis is not None:
            return await self.redis.take(bucket, rule)
        return self.memory.take(bucket, rule)

    async def check(self, scope: str, key: str) -> None:
        """Count one hit; raise RateLimited when the scope's allowance for key is spent."""
        decision = await self.hit(scope, key)
        if not decision.allowed:
            raise RateLimited(scope, decision.retry_after)

    def client_ip(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's IP: the peer, or X-Forwarded-For's nearest untrusted hop behind trusted proxies."""
        return client_ip(peer, headers.get("x-forwarded-for"), self.trusted)

    async def aclose(self) -> None:
        """Release the Redis connections, if any."""
        if self.redis is not None:
            await self.redis.aclose()


def parse_networks(values: list[str]) -> list[IPNetwork]:
    """IP networks from IPs or CIDRs; a bad one is a clear configuration error."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"rate_limits.trusted_proxies: {value!r} is not an IP address or CIDR") from None
    return networks


def _trusted(address: str, networks: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[IPNetwork]) -> str:
    """The client address; X-Forwarded-For counts only when the peer is a trusted proxy.

    Walks X-Forwarded-For from the right (the hop nearest to us) and returns the first address
    that is not itself a trusted proxy, so a client cannot pick its own address by sending the header.
    """
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _trusted(hop, trusted):
            break
    return address


def credential_key(authorization: str) -> str:
    """A stable key for an Authorization header that never keeps the credential itself."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:32]


REST_MESSAGES = re.compile(r"/api/v1/bots/[^/]+/messages/?")


def http_scopes(method: str, path: str, authorization: str | None, ip: str) -> list[tuple[str, str]]:
    """The (scope, key) pairs one HTTP request counts against."""
    hits: list[tuple[str, str]] = []
    if path.startswith("/webhooks/"):
        hits.append(("webhook", ip))
    elif path.startswith("/api/v1/widget/"):
        hits.append(("widget", ip))
    elif method == "POST" and REST_MESSAGES.fullmatch(path):
        hits.append(("rest_message", ip))
    if path.startswith("/api/") and authorization:
        hits.append(("api_key", credential_key(authorization)))
    return hits


class RateLimitMiddleware:
    """ASGI middleware: counts each HTTP request in its scopes and answers 429 over the limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse with 429 + Retry-After, or pass the request on."""
        if scope["type"] != "http" or not self.limiter.settings.enabled:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        peer = scope["client"][0] if scope.get("client") else None
        ip = self.limiter.client_ip(peer, headers)
        for name, key in http_scopes(scope["method"], scope["path"], headers.get("authorization"), ip):
            try:
                await self.limiter.check(name, key)
            except RateLimited as exc:
                extra = {"Access-Control-Allow-Origin": headers["origin"], "Vary": "Origin"} if (
                    name == "widget" and "origin" in headers
                ) else {}  # the embedding page may read why
                response = JSONResponse(exc.body(), status_code=exc.status, headers={**exc.headers, **extra})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """A request body over its cap; rendered as 413 `too_large` in the one error shape."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


UPLOAD_TYPES = ("multipart/form-data",)


class BodyCapMiddleware:
    """ASGI middleware: caps the bytes of /api/ and /webhooks/ request bodies.

    Multipart uploads are left to their routes, which stream them to disk under their own limits
    (max_upload_mb for documents, 5 MiB for widget files). A declared Content-Length over the cap is
    refused before the body is read; a body without one is cut off at the cap while it streams.
    """

    def __init__(self, app: ASGIApp, json_cap: int, webhook_cap: int) -> None:
        self.app = app
        self.json_cap = json_cap
        self.webhook_cap = webhook_cap

    def cap_for(self, path: str, content_type: str) -> int | None:
        """The byte cap of a request, or None when this middleware leaves it alone."""
        if path.startswith("/webhooks/"):
            return self.webhook_cap
        if path.startswith("/api/") and not content_type.startswith(UPLOAD_TYPES):
            return self.json_cap
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or cut off an oversized body with 413."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cap = self.cap_for(scope["path"], headers.get("content-type", "").lower())
        if cap is None:
            return await self.app(scope, receive, send)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            error = BodyTooLarge()
            body = {"error": {"code": "too_large", "message": error.detail}}
            return await JSONResponse(body, status_code=413)(scope, receive, send)
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge()
            return message

        await self.app(scope, capped, send)
