"""The channel protocol: verify a webhook, parse it into InboundMessages, send replies.

One module per platform registers a class with `@register_channel("kind")`; `create_channel`
builds one from a stored ChannelConfig's JSON and lists the valid kinds on a wrong one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from server.channels.delivery import Deliveries, MemoryDeliveries, RetryPolicy
from server.errors import BadRequest, FrontdeskError


class SignatureError(FrontdeskError):
    """The webhook's signature, token or timestamp does not check out (never says which secret)."""

    code = "bad_signature"
    status = 403


@dataclass(frozen=True)
class WebhookRequest:
    """What a platform sent: method, lower-cased headers, query and the raw body bytes."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A header's value, or '' when absent."""
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP answer a channel wants to give the platform."""

    status: int = 200
    body: str = "ok"
    media_type: str = "text/plain"


@dataclass
class InboundMessage:
    """A customer's text message, normalised at the edge.

    `address` is what the platform's send API needs to answer (chat id, reply token, channel…).
    """

    bot: str
    channel: str  # the channel kind, e.g. "telegram"
    user_id: str
    message_id: str  # the platform's id: redeliveries carry the same one
    text: str
    locale: str | None = None
    address: dict[str, Any] = field(default_factory=dict)
    audio: dict[str, Any] | None = None  # a voice note (server/channels/voice_media.py); text is "[voice]" until heard
    received_at: float = field(default_factory=time.time)


@dataclass
class OutboundReply:
    """A stored bot reply to deliver on the channel the message came from."""

    reply_id: str  # the stored reply's id: one reply is sent at most once
    to: InboundMessage
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Channel(Protocol):
    """What every platform module provides."""

    kind: str
    passive_timeout: float | None  # seconds to wait for an answer to return in the HTTP reply

    def verify(self, request: WebhookRequest) -> None:
        """Raise SignatureError unless the request is signed by the platform."""

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """Answer a setup/verification request, or None for an ordinary delivery."""

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """The text messages in a verified delivery; other events are ignored."""

    def ack(self, request: WebhookRequest) -> WebhookAnswer:
        """The quick 2xx answer once the messages are persisted."""

    def passive(self, reply: OutboundReply) -> WebhookAnswer | None:
        """The reply as the HTTP answer (WeChat), or None when it must be sent through the API."""

    async def send(self, reply: OutboundReply) -> bool:
        """Deliver a reply once via the platform's API (retrying 5xx, 429, transport errors)."""


class BaseChannel:
    """Shared plumbing: config checks, the HTTP client, retries and text formatting."""

    kind: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[dict[str, str]] = {}
    generated: ClassVar[tuple[str, ...]] = ()  # secrets Frontdesk may choose (`channels add`)
    max_chars: ClassVar[int] = 4000
    passive_timeout: float | None = None

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        bot: str,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        deliveries: Deliveries | None = None,
        channel_id: str = "",
    ) -> None:
        self.check_config(config)
        self.config = {**self.optional, **{k: v for k, v in config.items() if v is not None}}
        self.bot = bot
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.deliveries: Deliveries = deliveries or MemoryDeliveries()
        self.channel_id = channel_id

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Raise BadRequest naming missing required keys, or unknown ones (typos)."""
        missing = [k for k in cls.required if not str(config.get(k) or "")]
        if missing:
            raise BadRequest(f"{cls.kind} channel needs {', '.join(missing)} (--set KEY=VALUE)")
        known = {*cls.required, *cls.optional, "public_url"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise BadRequest(
                f"unknown {cls.kind} setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )

    async def send(self, reply: OutboundReply) -> bool:
        """Deliver a reply at most once; False when it was already sent (or is being sent).

        Raises:
            SendError: the platform refused it or kept failing; a later call may try again.
        """
        if not self.deliveries.claim(reply.reply_id, self.channel_id):
            return False
        try:
            await self.post(reply)
        except Exception as exc:
            self.deliveries.finish(reply.reply_id, False, f"{type(exc).__name__}: {exc}"[:300])
            raise
        self.deliveries.finish(reply.reply_id, True)
        return True

    async def post(self, reply: OutboundReply) -> None:
        """Call the platform's send API once (with retries); each platform implements it."""
        raise NotImplementedError

    def secret(self, key: str) -> bytes:
        """A configured secret as bytes."""
        return str(self.config[key]).encode()

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """No setup handshake by default."""
        return None

    def ack(self, request: WebhookRequest) -> WebhookAnswer:
        """A plain 200."""
        return WebhookAnswer()

    def passive(self, reply: OutboundReply) -> WebhookAnswer | None:
        """The reply as the webhook's HTTP answer, where the platform allows it (None: send it)."""
        return None

    def check_fresh(self, timestamp: str, window: float = 300.0) -> None:
        """Refuse a timestamp (unix seconds) more than `window` seconds from now (replays)."""
        try:
            sent = float(timestamp)
        except ValueError:
            raise SignatureError("missing or malformed timestamp") from None
        if abs(self.clock() - sent) > window:
            raise SignatureError("timestamp outside the replay window")

    def format(self, reply: OutboundReply) -> str:
        """The reply text with a numbered "Sources" list, cut to the platform's limit."""
        return format_text(
            reply.text, reply.citations, self.config.get("public_url", ""), self.max_chars
        )


def json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadRequest."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body is not a JSON object")
    return data


def hmac_hex(secret: bytes, message: bytes, algo: str = "sha256") -> str:
    """Hex HMAC of message."""
    return hmac.new(secret, message, getattr(hashlib, algo)).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(expected.encode(), given.encode())


def format_text(
    text: str, citations: list[dict[str, Any]], public_url: str = "", limit: int = 4000
) -> str:
    """Append citations as a numbered Sources list (platforms without a links UI); cut to limit."""
    lines = []
    for c in citations:
        title = c.get("document", "") + (f" > {c['section']}" if c.get("section") else "")
        url = str(c.get("url") or "")
        if url.startswith("/"):
            url = public_url.rstrip("/") + url if public_url else ""
        lines.append(f"{c.get('n', len(lines) + 1)}. {title}" + (f" {url}" if url else ""))
    out = text + ("\n\nSources:\n" + "\n".join(lines) if lines else "")
    return out if len(out) <= limit else out[: limit - 1] + "…"


CHANNELS: dict[str, type[BaseChannel]] = {}


def register_channel(kind: str) -> Callable[[type[BaseChannel]], type[BaseChannel]]:
    """Class decorator: make a channel available under `kind`."""

    def add(cls: type[BaseChannel]) -> type[BaseChannel]:
        cls.kind = kind
        CHANNELS[kind] = cls
        return cls

    return add


def channel_class(kind: str) -> type[BaseChannel]:
    """The class registered for kind; an unknown kind lists the valid ones."""
    from server.channels import load_builtins

    load_builtins()
    if kind not in CHANNELS:
        raise BadRequest(
            f"unknown channel kind {kind!r}; valid kinds: {', '.join(sorted(CHANNELS))}",
            code="unknown_channel_kind",
        )
    return CHANNELS[kind]


def create_channel(kind: str, config: Mapping[str, Any], **options: Any) -> BaseChannel:
    """Build a channel of `kind` from its stored config.

    Args:
        kind: a registered kind (telegram, slack, meta, line, wechat, generic).
        config: the ChannelConfig's JSON (secrets, tokens, options).
        options: bot=slug, http=an httpx.AsyncClient, retry=RetryPolicy, clock=callable.

    Returns:
        The channel, ready to verify, parse and send.
    """
    return channel_class(kind)(config, **options)
