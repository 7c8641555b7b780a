"""The channel protocol: verify a webhook, parse it into InboundMessages, send replies.

One module per platform registers a class with `@register_channel("kind")`; `create_channel`
builds one from a stored ChannelConfig's JSON and lists the valid kinds on a wrong one.
Outbound, `BaseChannel.format` splits a reply into the platform's message sizes
(server/channels/splitting.py) and `send` posts the parts in order, resuming after the parts
already accepted when an earlier try failed; quick replies ride on the last part
(server/channels/buttons.py).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from server.channels import buttons as qr
from server.channels.delivery import Deliveries, MemoryDeliveries, RetryPolicy, progress_note
from server.channels.splitting import compose, utf16_units
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
    quick_replies: list[dict[str, str]] = field(default_factory=list)  # [{"title", "payload"}]
    rateable: bool = True  # may carry 👍/👎 buttons where the channel shows them (not surveys, thanks)
    menu_label: str = ""  # the label of a list of buttons where the platform wants one ('' : "Options")


def outbound_for(reply: Any, to: Any, prefix: str = "") -> OutboundReply:
    """The OutboundReply for a stored bot reply (a Message): text, citations and its buttons.

    Args:
        reply: the stored reply (`id`, `text`, `citations`, `trace` with `quick_replies`).
        to: the InboundMessage it answers.
        prefix: text put before the reply (e.g. the transcript of a voice note).
    """
    trace = reply.trace or {}
    return OutboundReply(
        reply.id,
        to,
        prefix + reply.text,
        list(reply.citations or []),
        qr.clean(trace.get("quick_replies")),
        rateable="survey" not in trace,  # no 👍/👎 under a survey or its thanks
    )


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
        """The reply (its first part) as the HTTP answer (WeChat), or None: send it through the API."""

    async def send(self, reply: OutboundReply) -> bool:
        """Deliver a reply once via the platform's API, split to its limits, buttons on the last
        message (retrying 5xx, 429, transport errors)."""


@dataclass
class Progress:
    """How many parts of a reply the platform has accepted so far."""

    sent: int = 0


def _guarded(parse: Callable[[Any, WebhookRequest], list[InboundMessage]]) -> Callable[..., list[InboundMessage]]:
    """Wrap a channel's parse: a payload of an unexpected shape is a 400 `bad_payload`, never a 500."""

    @functools.wraps(parse)
    def guarded(self: Any, request: WebhookRequest) -> list[InboundMessage]:
        try:
            messages = parse(self, request)
        except FrontdeskError:
            raise
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"unexpected {self.kind} payload ({type(exc).__name__})", code="bad_payload") from None
        for m in messages:
            if not all(isinstance(v, str) for v in (m.user_id, m.message_id, m.text)):
                raise BadRequest(f"unexpected {self.kind} payload: ids and text must be strings", code="bad_payload")
            if m.locale is not None and not isinstance(m.locale, str):
                m.locale = None
        return messages

    return guarded


class BaseChannel:
    """Shared plumbing: config checks, the HTTP client, retries, splitting and buttons."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every platform's parse (built-in or plugin) is guarded the same way."""
        super().__init_subclass__(**kwargs)
        if "parse" in cls.__dict__:
            cls.parse = _guarded(cls.__dict__["parse"])  # type: ignore[method-assign]

    kind: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[dict[str, str]] = {}
    generated: ClassVar[tuple[str, ...]] = ()  # secrets Frontdesk may choose (`channels add`)
    max_chars: ClassVar[int] = 4000  # one message's limit, as `measure` counts
    max_parts: ClassVar[int] = 10  # the most messages one reply becomes (longer ones end in "…")
    passive_timeout: float | None = None
    thumbs: bool = False  # 👍/👎 under rateable replies where supported; the service sets it per bot

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

        A reply longer than the platform's limit goes as several messages, in order. When a part
        fails, the parts already accepted are recorded, and a later send resumes after them.

        Raises:
            SendError: the platform refused it or kept failing; a later call may try again.
        """
        if not self.deliveries.claim(reply.reply_id, self.channel_id):
            return False
        await self.send_claimed(reply, self.deliveries.sent_parts(reply.reply_id))
        return True

    async def send_claimed(self, reply: OutboundReply, start: int = 0) -> None:
        """Send parts `start`… of a reply whose delivery the caller has claimed, then finish it."""
        parts = self.format(reply)
        progress = Progress(min(start, len(parts)))
        try:
            if progress.sent < len(parts):
                await self.post_parts(reply, parts, progress)
        except Exception as exc:
            reason = progress_note(progress.sent, len(parts), f"{type(exc).__name__}: {exc}")
            self.deliveries.finish(reply.reply_id, False, reason[:300])
            raise
        self.deliveries.finish(reply.reply_id, True)

    async def post_parts(self, reply: OutboundReply, parts: list[str], progress: Progress) -> None:
        """Send parts[progress.sent:] one by one (buttons ride on the last), counting each."""
        for index in range(progress.sent, len(parts)):
            await self.post_part(reply, parts[index], index == len(parts) - 1)
            progress.sent = index + 1

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """Call the platform's send API once (with retries) for one part; each platform implements it."""
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
        if not math.isfinite(sent) or abs(self.clock() - sent) > window:  # "nan" parses as a float
            raise SignatureError("timestamp outside the replay window")

    def measure(self, text: str) -> int:
        """A text's length as the platform counts it against max_chars (UTF-16 code units)."""
        return utf16_units(text)

    def text_limit(self, reply: OutboundReply) -> int:
        """The most one text message may measure on this platform (for this recipient)."""
        return self.max_chars

    def button_limit(self, reply: OutboundReply) -> int:
        """The most the text of the message that carries native buttons may measure."""
        return self.text_limit(reply)

    def native_buttons(self, reply: OutboundReply) -> bool:
        """Whether this reply's quick replies are sent as the platform's own buttons."""
        return False

    def format(self, reply: OutboundReply) -> list[str]:
        """The reply as the texts of the messages to send, each within the platform's limit.

        The numbered Sources list (and, where buttons cannot be shown, numbered options) come
        last; when native buttons ride on the last message, it is cut to `button_limit`.
        """
        tail = [sources_block(reply.citations, self.config.get("public_url", ""))]
        native = bool(reply.quick_replies) and self.native_buttons(reply)
        if reply.quick_replies and not native:
            tail.append(qr.numbered_lines(reply.quick_replies, reply.text))
        tail_text = "\n\n".join(t for t in tail if t)
        parts = compose(reply.text, tail_text, self.text_limit(reply), self.measure, self.max_parts)
        limit = self.button_limit(reply)
        if native and self.measure(parts[-1]) > limit:
            last = compose(parts.pop(), "", limit, self.measure, self.max_parts)
            parts.extend(last)
        return parts


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


def sources_block(citations: list[dict[str, Any]], public_url: str = "") -> str:
    """Citations as a numbered "Sources:" list (platforms without a links UI); '' when none."""
    lines = []
    for c in citations:
        title = c.get("document", "") + (f" > {c['section']}" if c.get("section") else "")
        url = str(c.get("url") or "")
        if url.startswith("/"):
            url = public_url.rstrip("/") + url if public_url else ""
        lines.append(f"{c.get('n', len(lines) + 1)}. {title}" + (f" {url}" if url else ""))
    return "Sources:\n" + "\n".join(lines) if lines else ""


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
