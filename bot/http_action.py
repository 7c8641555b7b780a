"""The http rule action: call the business's endpoint; the rule's later templates use the response.

    {"http": {"method": "GET", "url": "https://api.shop.example/orders/{{ slots.order_number }}",
              "headers": {"Authorization": "Bearer {{ secrets.SHOP_TOKEN }}"},
              "timeout": 5, "retries": 2, "save_as": "order",
              "on_error": [{"reply": "I can't reach our order system."}, {"handoff": true}]}}

Every request is checked by bot/netguard.py (no private addresses unless the server allows them),
connects to the address that was checked (no second DNS lookup), follows no redirect, is signed
with the bot's action signing secret (X-Frontdesk-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"t.body">), and is bounded in time. The trace records the method, the URL with secrets masked,
the status, latency, attempts and the error; never headers, bodies or secret values. The
console's dry run sends nothing and shows what would be sent. The JSON is checked by
bot/http_parse.py. Docs: docs/rules.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from jinja2 import Template, TemplateError

from bot import netguard
from bot.action_settings import ActionSettings
from bot.actions import Action, Knowledge, Outcome
from bot.errors import BotError
from bot.types import TurnContext

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NOT_IDEMPOTENT = ("POST", "PATCH")  # retried only with retry_post: true
KEYS = {"method", "url", "headers", "body", "timeout", "retries", "retry_post", "save_as", "accept_status",
        "expect", "on_error"}
EXPECT = ("any", "json", "text")
RESERVED_NAMES = {"message", "intent", "confidence", "slots", "attributes", "tags", "bot", "channel", "now",
                  "secrets"}
DEFAULT_TIMEOUT, MAX_TIMEOUT = 5.0, 15.0
DEFAULT_RETRIES, MAX_RETRIES = 2, 5
SIGNATURE_HEADER = "X-Frontdesk-Signature"
USER_AGENT = "Frontdesk-Actions/1"
FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", SIGNATURE_HEADER.lower()}
SENSITIVE_QUERY = re.compile(r"(key|token|secret|sig|signature|pass|password|auth|credential)", re.IGNORECASE)
MASK = "***"
log = logging.getLogger(__name__)
__all__ = ["ActionSettings", "HttpAction", "HttpServices", "redact_url", "sign"]


@dataclass
class HttpServices:
    """What HTTP actions of one bot need from the server.

    secrets: the bot's action secrets ({{ secrets.NAME }}), opened; read at each call (rotation is immediate).
    signing_secret: the bot's signing key, created on first use.
    """

    policy: netguard.NetPolicy
    secrets: Callable[[], dict[str, str]]
    signing_secret: Callable[[], str]
    max_total_seconds: float = 20.0
    max_response_bytes: int = 1_000_000
    ssl_context: ssl.SSLContext | None = None  # None: the system's trust store via httpx, built once
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tls(self) -> ssl.SSLContext:
        """The TLS context every call shares (building one per call costs milliseconds)."""
        with self._lock:
            if self.ssl_context is None:
                self.ssl_context = httpx.create_ssl_context()
            return self.ssl_context


class HttpActionError(BotError):
    """An HTTP action could not be sent or its answer was not usable (on_error runs)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Prepared:
    """A rendered request (secrets filled in): never stored as it is."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Result:
    """How the call went; `response` is what templates see under save_as."""

    response: dict[str, Any]
    record: dict[str, Any]
    ok: bool
    cancelled: bool = False


class _Secrets:
    """`secrets` in an http action's templates: a name that is not set is an error, not an empty string."""

    def __init__(self, values: dict[str, str], masked: bool = False) -> None:
        self._values, self._masked = values, masked

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> str:
        if self._masked:
            return f"[secret {name}]"
        if name not in self._values:
            raise HttpActionError(f"no action secret named {name!r}")
        return self._values[name]


@dataclass
class HttpAction:
    """Call an endpoint; save the response for later templates; on failure run on_error."""

    method: str
    url: Template
    headers: dict[str, Template]
    body: Any  # JSON value with compiled templates for strings; None: no body
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_post: bool = False
    save_as: str = "response"
    accept_status: frozenset[int] = frozenset()
    expect: str = "any"
    on_error: list[Action] = field(default_factory=list)
    kind: str = "http"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        """Call (or, in a dry run, describe) the request; a failure stops the rule and runs on_error."""
        if ctx.dry_run:
            ctx.trace.http.append(self.preview(env))
            env[self.save_as] = {"status": None, "ok": None, "json": {}, "text": "", "headers": {},
                                 "error": None, "dry_run": True}
            return
        result = self.run(ctx, env)
        ctx.trace.http.append(result.record)
        env[self.save_as] = result.response
        if result.ok:
            return
        outcome.halted = True
        if result.cancelled:
            return
        for action in self.on_error or [Knowledge(None)]:
            outcome.ran.append(f"on_error.{action.kind}")
            action.apply(ctx, outcome, env)

    def run(self, ctx: TurnContext, env: dict[str, Any]) -> Result:
        """Render, check, send (with retries) and read the answer; never raises."""
        started = time.monotonic()
        services = ctx.bot.services.http
        secrets: dict[str, str] = {}
        record: dict[str, Any] = {"method": self.method, "url": None, "status": None, "ms": 0.0, "attempts": 0,
                                  "error": None, "save_as": self.save_as}
        try:
            if services is None:
                raise HttpActionError("HTTP actions are not set up on this server")
            if ctx.cancel.is_set():
                raise HttpActionError("cancelled: the customer left or sent a newer message")
            secrets = services.secrets()
            prepared = self.prepare(env, secrets)
            record["url"] = redact_url(prepared.url, secrets)
            target = netguard.check_url(prepared.url, services.policy)
            return self._send(ctx, services, prepared, target, record, started, secrets)
        except (BotError, TemplateError) as exc:
            return self._failed(record, started, _scrub(f"{exc}", secrets))
        except Exception as exc:  # e.g. the database holding the secrets is down: on_error still runs
            log.exception("http action of bot %s failed", ctx.bot.slug)
            return self._failed(record, started, f"internal error: {type(exc).__name__}")

    def prepare(self, env: dict[str, Any], secrets: dict[str, str], masked: bool = False) -> Prepared:
        """Render the URL, headers and body with this turn's variables and the bot's secrets."""
        scope = {**env, "secrets": _Secrets(secrets, masked)}
        url = self.url.render(**scope).strip()
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
        for name, template in self.headers.items():
            value = template.render(**scope)
            if "\r" in value or "\n" in value:
                raise HttpActionError(f"header {name} rendered to a value with a line break")
            headers[name] = value
        body = b""
        if self.body is not None:
            body = json.dumps(_render(self.body, scope), ensure_ascii=False, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        return Prepared(self.method, url, headers, body)

    def preview(self, env: dict[str, Any]) -> dict[str, Any]:
        """What a dry run shows: the request that would be sent, secrets masked, nothing sent."""
        try:
            prepared = self.prepare(env, {}, masked=True)
        except (BotError, TemplateError) as exc:
            return {"method": self.method, "sent": False, "error": str(exc)}
        body = json.loads(prepared.body) if prepared.body else None
        headers = {**prepared.headers, SIGNATURE_HEADER: "t=<unix time>,v1=<signature>"}
        return {"method": self.method, "url": redact_url(prepared.url, {}), "headers": headers, "body": body,
                "sent": False, "save_as": self.save_as}

    def _send(
        self, ctx: TurnContext, services: HttpServices, prepared: Prepared, target: netguard.Target,
        record: dict[str, Any], started: float, secrets: dict[str, str],
    ) -> Result:
        deadline = started + min(services.max_total_seconds, self.timeout * (self.retries + 1) + 10)
        retries = self.retries if self.method not in NOT_IDEMPOTENT or self.retry_post else 0
        signing = services.signing_secret()
        error = "no attempt made"
        for attempt in range(retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                error = f"gave up: the action's {services.max_total_seconds:g}s budget is spent"
                break
            record["attempts"] = attempt + 1
            headers = {**prepared.headers, SIGNATURE_HEADER: sign(signing, int(time.time()), prepared.body)}
            try:
                status, content = _exchange(services, prepared, target, headers, min(self.timeout, remaining),
                                            deadline)
            except httpx.TimeoutException:
                error, retryable = f"timed out after {min(self.timeout, remaining):g}s", True
            except httpx.ConnectError as exc:
                error, retryable = f"could not connect: {exc}", True
            except (httpx.HTTPError, HttpActionError) as exc:
                error, retryable = f"{type(exc).__name__}: {exc}", False
            else:
                record["status"] = status
                if status >= 500 and attempt < retries:
                    error, retryable = f"server error {status}", True
                else:
                    return self._answer(record, started, status, content, secrets)
            if not retryable or attempt >= retries:
                break
            if ctx.cancel.wait(min(_backoff(attempt), max(0.0, deadline - time.monotonic()))):
                record.update(error="cancelled: the customer left or sent a newer message",
                              ms=_ms(started))
                return Result(_response(None, None, record["error"]), record, False, cancelled=True)
        return self._failed(record, started, _scrub(error, secrets))

    def _answer(
        self, record: dict[str, Any], started: float, status: int, content: bytes, secrets: dict[str, str]
    ) -> Result:
        text = content.decode("utf-8", errors="replace")
        parsed, json_error = None, None
        if self.expect != "text" and text.strip():
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                json_error = f"the response is not JSON: {exc}"
        error = None
        if not (200 <= status < 300 or status in self.accept_status):
            error = f"the endpoint answered {status}"
        elif self.expect == "json" and parsed is None:
            error = json_error or "the response is empty, not JSON"
        record.update(ms=_ms(started), error=_scrub(error, secrets) if error else None)
        return Result(_response(status, parsed, record["error"], text), record, error is None)

    def _failed(self, record: dict[str, Any], started: float, error: str) -> Result:
        record.update(ms=_ms(started), error=error)
        return Result(_response(record.get("status"), None, error), record, False)


def _exchange(
    services: HttpServices, prepared: Prepared, target: netguard.Target, headers: dict[str, str], timeout: float,
    deadline: float,
) -> tuple[int, bytes]:
    """One attempt, connected to a checked address (tried in order): the status and the body."""
    last: httpx.ConnectError | None = None
    original = httpx.URL(prepared.url)
    for address in target.addresses:
        pinned = original.copy_with(host=address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        with httpx.Client(verify=services.tls(), trust_env=False, follow_redirects=False) as client:
            try:
                request = client.build_request(
                    prepared.method, pinned, headers={**headers, "Host": target.netloc},
                    content=prepared.body or None, timeout=timeout, extensions=extensions,
                )
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = exc
                continue
            try:
                return response.status_code, _read(response, services.max_response_bytes, deadline)
            finally:
                response.close()
    raise last or httpx.ConnectError("no address to connect to")


def _read(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """The body, refusing one larger than limit or still arriving after the deadline (a slow drip)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise HttpActionError(f"the response is larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the response was still arriving when the action's time was up")
        chunks.append(chunk)
    return b"".join(chunks)


def _response(status: int | None, parsed: Any, error: str | None, text: str = "") -> dict[str, Any]:
    return {"status": status, "ok": status is not None and 200 <= status < 300, "json": parsed,
            "text": text, "error": error}


def _backoff(attempt: int) -> float:
    """Exponential back-off with jitter: about 0.25 s, 0.5 s, 1 s, ... (at most 4 s)."""
    return min(4.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 (jitter, not crypto)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _render(value: Any, scope: dict[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(**scope)
    if isinstance(value, dict):
        return {k: _render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, scope) for v in value]
    return value


def _scrub(text: str, secrets: dict[str, str]) -> str:
    """text with every secret value (plain or URL-encoded) replaced by ***."""
    for value in sorted((v for v in secrets.values() if v), key=len, reverse=True):
        for form in {value, quote(value, safe=""), quote(value)}:
            text = text.replace(form, MASK)
    return text[:500]


def redact_url(url: str, secrets: dict[str, str]) -> str:
    """The URL for the trace: secret values masked, and so are query values under key/token/... names."""
    try:
        parts = urlsplit(url)
        query = [(k, MASK if SENSITIVE_QUERY.search(k) else v) for k, v in parse_qsl(parts.query, True)]
        netloc = parts.hostname or ""
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        netloc += f":{parts.port}" if parts.port else ""
        url = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=MASK), ""))
    except ValueError:
        url = url.split("?", 1)[0]
    return _scrub(url, secrets)
