"""HTTP rule actions against a real HTTP server on 127.0.0.1: replies from JSON, timeouts, bad JSON,
retries, the signature recipe, secrets kept out of the trace, the dry run and save-time validation."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot import netguard
from bot.errors import ConfigError
from bot.http_action import SIGNATURE_HEADER, HttpServices, redact_url, sign
from bot.rules import Rule, apply_rules
from bot.types import BotProfile, BotServices, ConversationState, TurnContext

SIGNING = "whsec_test_signing_secret"
TOKEN = "tok-S3cr3t-value"


class Endpoint(ThreadingHTTPServer):
    """A tiny business API: records every request it gets; paths pick the behaviour."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        return None

    def _answer(self, status: int, body: bytes, media_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.counts[path] = self.server.counts.get(path, 0) + 1
            count = self.server.counts[path]
            self.server.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
        if path.startswith("/orders/"):
            number = path.rsplit("/", 1)[1]
            if number == "NW-000000":
                self._answer(404, b'{"error": "no such order"}')
            else:
                self._answer(200, json.dumps({"number": number, "status": "shipped", "eta": "Friday"}).encode())
        elif path == "/slow":
            time.sleep(1.5)
            self._answer(200, b"{}")
        elif path == "/badjson":
            self._answer(200, b"<html>oops", "text/html")
        elif path == "/flaky":  # two server errors, then fine
            self._answer(503, b"{}") if count <= 2 else self._answer(200, b'{"ok": true}')
        elif path == "/down":
            self._answer(503, b'{"error": "maintenance"}')
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(200, json.dumps({"echo": body.decode() or None}).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def services(allow_private: bool = True, **overrides: Any) -> HttpServices:
    fields: dict[str, Any] = {
        "policy": netguard.NetPolicy(allow_private=allow_private),
        "secrets": lambda: {"SHOP_TOKEN": TOKEN},
        "signing_secret": lambda: SIGNING,
        "max_total_seconds": 10.0,
    }
    return HttpServices(**{**fields, **overrides})


def profile(http: HttpServices | None = None) -> BotProfile:
    return BotProfile(slug="shop", name="Shop", services=BotServices(http=http or services()))


def turn(rule: Rule, text: str = "order", http: HttpServices | None = None, **fields: Any) -> TurnContext:
    ctx = TurnContext(bot=profile(http), text=text, **fields)
    apply_rules([rule], ctx)
    return ctx


def http_rule(spec: dict[str, Any], *after: dict[str, Any], name: str = "call") -> Rule:
    return Rule(name, {"keywords": ["order"]}, [{"http": spec}, *after])


def test_json_response_is_used_in_the_reply(endpoint: Endpoint) -> None:
    rule = http_rule(
        {"url": endpoint.url + "/orders/{{ slots.order }}", "save_as": "order",
         "headers": {"Authorization": "Bearer {{ secrets.SHOP_TOKEN }}"}},
        {"reply": "Order {{ order.json.number }} is {{ order.json.status }} ({{ order.status }}, ok={{ order.ok }})."},
    )
    ctx = turn(rule, state=ConversationState(flow={"slots": {"order": "NW-123456"}}))
    assert ctx.reply == "Order NW-123456 is shipped (200, ok=True)."
    assert ctx.trace.actions == ["http", "reply"]
    [call] = ctx.trace.http
    assert call["status"] == 200 and call["attempts"] == 1 and call["error"] is None and call["ms"] > 0
    assert call["url"] == endpoint.url + "/orders/NW-123456"
    sent = endpoint.requests[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["Host"] == endpoint.url.removeprefix("http://")


def test_a_timeout_runs_on_error(endpoint: Endpoint) -> None:
    rule = http_rule(
        {"url": endpoint.url + "/slow", "timeout": 0.3, "retries": 1,
         "on_error": [{"reply": "Our order system is slow ({{ response.error }})."}, {"handoff": True}]},
        {"reply": "never said"},
    )
    started = time.monotonic()
    ctx = turn(rule)
    assert time.monotonic() - started < 3
    assert ctx.reply is not None and ctx.reply.startswith("Our order system is slow (timed out after 0.3s")
    assert "never said" not in ctx.reply
    assert ctx.trace.handoff and ctx.trace.handoff_reason == "rule:call"
    assert ctx.trace.actions == ["http", "on_error.reply", "on_error.handoff"]
    assert ctx.trace.http[0]["attempts"] == 2 and "timed out" in ctx.trace.http[0]["error"]


def test_bad_json_fails_when_json_is_expected_and_not_otherwise(endpoint: Endpoint) -> None:
    strict = http_rule({"url": endpoint.url + "/badjson", "expect": "json", "on_error": [{"reply": "bad"}]},
                       {"reply": "good"})
    ctx = turn(strict)
    assert ctx.reply == "bad" and "not JSON" in ctx.trace.http[0]["error"]
    lenient = http_rule({"url": endpoint.url + "/badjson"}, {"reply": "{{ response.text }}|{{ response.json }}"})
    assert turn(lenient).reply == "<html>oops|None"


def test_server_errors_are_retried_then_the_answer_is_used(endpoint: Endpoint) -> None:
    endpoint.counts.pop("/flaky", None)
    rule = http_rule({"url": endpoint.url + "/flaky", "retries": 2}, {"reply": "ok={{ response.json.ok }}"})
    ctx = turn(rule)
    assert ctx.reply == "ok=True"
    assert ctx.trace.http[0]["attempts"] == 3 and endpoint.counts["/flaky"] == 3


def test_post_is_not_retried_unless_asked(endpoint: Endpoint) -> None:
    endpoint.counts.pop("/down", None)
    post = http_rule({"method": "POST", "url": endpoint.url + "/down", "body": {"a": 1},
                      "on_error": [{"reply": "failed {{ response.status }}"}]})
    ctx = turn(post)
    assert ctx.reply == "failed 503" and endpoint.counts["/down"] == 1 and ctx.trace.http[0]["attempts"] == 1
    retried = http_rule({"method": "POST", "url": endpoint.url + "/down", "retries": 1, "retry_post": True,
                         "on_error": [{"reply": "failed"}]})
    turn(retried)
    assert endpoint.counts["/down"] == 3


def test_accept_status_lets_the_rule_answer_a_404(endpoint: Endpoint) -> None:
    rule = http_rule(
        {"url": endpoint.url + "/orders/NW-000000", "accept_status": [404]},
        {"reply": "{% if response.ok %}found{% else %}No order {{ response.status }}{% endif %}"},
    )
    assert turn(rule).reply == "No order 404"
    without = http_rule({"url": endpoint.url + "/orders/NW-000000"}, {"reply": "found"})
    ctx = turn(without)  # no on_error: the knowledge base answers (the rule hands over to it)
    assert not ctx.done and ctx.trace.actions == ["http", "on_error.knowledge"]


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The recipe of docs/rules.md ("Verifying the signature"), word for word."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    t, given = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def test_the_signature_verifies_with_the_documented_recipe(endpoint: Endpoint) -> None:
    rule = http_rule({"method": "POST", "url": endpoint.url + "/hook",
                      "body": {"order": "{{ slots.order }}", "n": 2, "tags": ["{{ channel }}"]}},
                     {"reply": "{{ response.json.echo }}"})
    ctx = turn(rule, state=ConversationState(flow={"slots": {"order": "NW-1"}}), channel="web")
    sent = endpoint.requests[-1]
    assert json.loads(sent["body"]) == {"order": "NW-1", "n": 2, "tags": ["web"]}
    assert sent["headers"]["Content-Type"] == "application/json"
    header = sent["headers"][SIGNATURE_HEADER]
    assert verify(SIGNING, header, sent["body"])
    assert not verify("whsec_other", header, sent["body"]) and not verify(SIGNING, header, sent["body"] + b" ")
    t = int(header.split(",")[0].removeprefix("t="))
    assert sign(SIGNING, t, sent["body"]) == header
    assert not verify(SIGNING, sign(SIGNING, t - 3600, sent["body"]), sent["body"])  # too old
    assert ctx.reply == sent["body"].decode()


def test_secrets_never_reach_the_trace(endpoint: Endpoint) -> None:
    rule = http_rule({"url": endpoint.url + "/orders/NW-1?api_key={{ secrets.SHOP_TOKEN }}&x={{ secrets.SHOP_TOKEN }}",
                      "headers": {"X-Token": "{{ secrets.SHOP_TOKEN }}"}}, {"reply": "ok"})
    ctx = turn(rule)
    assert TOKEN in endpoint.requests[-1]["path"] and ctx.reply == "ok"
    assert TOKEN not in json.dumps(ctx.trace.to_dict())
    assert "api_key=***" in ctx.trace.http[0]["url"]
    missing = http_rule({"url": endpoint.url + "/x", "headers": {"X-Token": "{{ secrets.NOPE }}"},
                         "on_error": [{"reply": "{{ response.error }}"}]})
    assert turn(missing).reply == "no action secret named 'NOPE'"


def test_redact_url_masks_secret_values_and_sensitive_query_names() -> None:
    assert redact_url("https://a.example/p?token=abc&q=1", {}) == "https://a.example/p?token=***&q=1"
    assert redact_url("https://a.example/v/abcdef123?q=abcdef123", {"K": "abcdef123"}) == (
        "https://a.example/v/***?q=***"
    )


def test_redirects_are_not_followed(endpoint: Endpoint) -> None:
    rule = http_rule({"url": endpoint.url + "/redirect", "on_error": [{"reply": "{{ response.status }}"}]})
    ctx = turn(rule)
    assert ctx.reply == "302" and endpoint.requests[-1]["path"] == "/redirect"


def test_private_addresses_are_refused_by_default(endpoint: Endpoint) -> None:
    before = len(endpoint.requests)
    rule = http_rule({"url": endpoint.url + "/orders/NW-1", "on_error": [{"reply": "{{ response.error }}"}]})
    ctx = turn(rule, http=services(allow_private=False))
    assert ctx.reply == "127.0.0.1 is a loopback address, which actions may not call"
    assert len(endpoint.requests) == before and ctx.trace.http[0]["attempts"] == 0


def test_the_connection_is_pinned_to_the_checked_address(endpoint: Endpoint) -> None:
    """DNS rebinding: the name resolves to an allowed address when checked, to another one after.
    The action connects to the address it checked, with the name in the Host header, and never
    looks the name up again (the system resolver does not know it at all)."""
    answers = iter([["127.0.0.1"], ["10.255.255.1"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    policy = netguard.NetPolicy(allow_networks=netguard.parse_networks(["127.0.0.1/32"]), resolver=rebinding)
    port = endpoint.server_address[1]
    rule = http_rule({"url": f"http://rebind.invalid:{port}/orders/NW-7", "retries": 0},
                     {"reply": "{{ response.json.number }}"})
    ctx = turn(rule, http=services(policy=policy))
    assert ctx.reply == "NW-7" and lookups == ["rebind.invalid"]
    assert endpoint.requests[-1]["headers"]["Host"] == f"rebind.invalid:{port}"


def _certificate(tmp_path: Any, host: str) -> tuple[str, str]:
    """A self-signed certificate for host: (cert file, key file)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_https_to_a_pinned_address_verifies_the_certificate_of_the_name(tmp_path: Any) -> None:
    import ssl

    cert, key = _certificate(tmp_path, "shop.test")
    server = Endpoint()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        trusted = ssl.create_default_context(cafile=cert)
        policy = netguard.NetPolicy(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
        port = server.server_address[1]
        rule = http_rule({"url": f"https://shop.test:{port}/orders/NW-5", "retries": 0,
                          "on_error": [{"reply": "error: {{ response.error }}"}]},
                         {"reply": "{{ response.json.number }}"})
        assert turn(rule, http=services(policy=policy, ssl_context=trusted)).reply == "NW-5"
        # the same server under another name: its certificate does not match, the call fails
        other = http_rule({"url": f"https://other.test:{port}/orders/NW-5", "retries": 0,
                           "on_error": [{"reply": "error: {{ response.error }}"}]})
        reply = turn(other, http=services(policy=policy, ssl_context=trusted)).reply
        assert reply is not None and reply.startswith("error:") and "certificate" in reply.lower()
    finally:
        server.shutdown()
        server.server_close()


def test_the_dry_run_sends_nothing_and_shows_the_request(endpoint: Endpoint) -> None:
    before = len(endpoint.requests)
    rule = http_rule({"method": "POST", "url": endpoint.url + "/hook?token={{ secrets.SHOP_TOKEN }}",
                      "headers": {"Authorization": "Bearer {{ secrets.SHOP_TOKEN }}"},
                      "body": {"order": "{{ slots.order }}"}},
                     {"reply": "Status: {{ response.json.status }}."})
    ctx = turn(rule, dry_run=True, state=ConversationState(flow={"slots": {"order": "NW-9"}}))
    assert len(endpoint.requests) == before
    assert ctx.reply == "Status: ."
    [shown] = ctx.trace.http
    assert shown["sent"] is False and shown["body"] == {"order": "NW-9"}
    assert shown["headers"]["Authorization"] == "Bearer [secret SHOP_TOKEN]"
    assert shown["url"] == endpoint.url + "/hook?token=***"
    assert TOKEN not in json.dumps(ctx.trace.to_dict())


def test_a_cancelled_turn_stops_between_retries(endpoint: Endpoint) -> None:
    ctx = TurnContext(bot=profile(), text="order")
    rule = http_rule({"url": endpoint.url + "/down", "retries": 5, "on_error": [{"reply": "x"}]})
    threading.Timer(0.1, ctx.cancel.set).start()
    started = time.monotonic()
    apply_rules([rule], ctx)
    assert time.monotonic() - started < 2
    assert ctx.trace.http[0]["error"].startswith("cancelled") and ctx.reply is None


def test_without_server_services_the_action_fails_cleanly() -> None:
    rule = http_rule({"url": "https://api.example.com/x", "on_error": [{"reply": "{{ response.error }}"}]})
    ctx = TurnContext(bot=BotProfile(slug="s", name="S"), text="order")
    apply_rules([rule], ctx)
    assert ctx.reply == "HTTP actions are not set up on this server"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("https://x.example", "must be an object"),
        ({"method": "FETCH", "url": "https://x.example"}, "method must be one of"),
        ({"method": "GET"}, "needs a url"),
        ({"url": "ftp://x.example"}, "must start with http:// or https://"),
        ({"url": "https://x.example/{{ broken"}, "bad template in http.url"),
        ({"url": "https://x.example", "headers": {"X-A": "{% if %}"}}, "bad template in http.headers.X-A"),
        ({"url": "https://x.example", "headers": {"Host": "evil"}}, "not a header an action may set"),
        ({"url": "https://x.example", "body": {"a": "{{ x "}}, "bad template in http.body.a"),
        ({"url": "https://x.example", "timeout": 60}, "timeout must be a number from 0.1 to 15"),
        ({"url": "https://x.example", "retries": 1.5}, "retries must be a whole number"),
        ({"url": "https://x.example", "save_as": "slots"}, "save_as must be a variable name"),
        ({"url": "https://x.example", "accept_status": ["404"]}, "accept_status must be a list"),
        ({"url": "https://x.example", "expect": "xml"}, "expect must be one of"),
        ({"url": "https://x.example", "on_error": [{"ask_slots": {}}]}, "'ask_slots' cannot be used here"),
        ({"url": "https://x.example", "on_error": [{"knowledge": True}, {"reply": "x"}]}, "knowledge must be the last"),
        ({"url": "https://x.example", "colour": 1}, "unknown field(s) ['colour']"),
    ],
)
def test_bad_http_actions_are_refused_at_save_time(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        http_rule(spec)
    assert message in str(caught.value)
