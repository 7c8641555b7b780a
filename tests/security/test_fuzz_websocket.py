"""Hypothesis against the chat socket's frame parser: any frame gets an answer, the socket survives.

Each example opens a socket, sends one arbitrary frame (text, JSON of any shape, frames of a
known type with random fields, binary, oversized, deeply nested), then a ping. An invalid frame
must be answered with an error frame (never `internal`), and the ping must still get its pong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from server.api.schemas import FRAME_TYPES
from server.api.ws import FRAMES, MAX_FRAME_BYTES
from server.app import create_app
from tests.security.conftest import Deployment
from tests.security.helpers import fuzz_examples

EXAMPLES = fuzz_examples(60)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELD_VALUES = JSON_VALUES | st.sampled_from(["", "x" * 70, "\u0000", "\ud800", "<script>", "-1", "thumb", "csat"])
TYPED_FRAMES = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from([*FRAME_TYPES, "HELLO", "", "agent"]),
    st.dictionaries(
        st.sampled_from(["id", "text", "conversation_id", "kind", "score", "message_id", "comment", "name", "data",
                         "locale", "user_id", "user_hash", "user_name", "user_email", "extra"]),
        FIELD_VALUES, max_size=5,
    ),
)


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, str | bytes]:
    """A frame to send: ("text", str) or ("bytes", bytes)."""
    kind = draw(st.sampled_from(["text", "json", "typed", "bytes", "huge", "deep"]))
    if kind == "text":
        return "text", draw(st.text(max_size=200))
    if kind == "json":
        return "text", json.dumps(draw(JSON_VALUES))
    if kind == "typed":
        return "text", json.dumps(draw(TYPED_FRAMES))
    if kind == "bytes":
        return "bytes", draw(st.binary(max_size=200))
    if kind == "huge":
        padding = "x" * (MAX_FRAME_BYTES + draw(st.integers(1, 1024)))
        return "text", json.dumps({"type": "message", "id": "huge", "text": padding})
    depth = draw(st.integers(500, 20_000))
    return "text", draw(st.sampled_from(["[" * depth, '{"a":' * depth + "1" + "}" * depth]))


def is_valid(frame: str | bytes) -> bool:
    """Whether the server should accept the frame as a protocol frame."""
    if isinstance(frame, bytes) or len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        return False
    try:
        FRAMES.validate_json(frame)
    except (ValidationError, ValueError, RecursionError):
        return False
    return True


@pytest.fixture(scope="module")
def ws_client(deployment: Deployment) -> Iterator[TestClient]:
    """One app for the module."""
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app) as client:
        yield client


def until_pong(ws: Any, limit: int = 50) -> list[dict[str, Any]]:
    """Frames received up to and including the pong."""
    seen = []
    for _ in range(limit):
        frame = json.loads(ws.receive_text())
        seen.append(frame)
        if frame.get("type") == "pong":
            return seen
    raise AssertionError(f"no pong after {limit} frames: {seen[-3:]}")


@pytest.mark.slow
def test_any_frame_gets_an_answer_and_the_socket_keeps_working(ws_client: TestClient) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frame=frames(), hello_first=st.booleans())
    def fuzz(frame: tuple[str, str | bytes], hello_first: bool) -> None:
        how, data = frame
        with ws_client.websocket_connect("/ws/chat/acme") as ws:
            if hello_first:
                ws.send_text(json.dumps({"type": "hello"}))
                assert json.loads(ws.receive_text())["type"] == "ready"
            ws.send_bytes(data) if how == "bytes" else ws.send_text(data)  # type: ignore[arg-type]
            if not is_valid(data):
                answer = json.loads(ws.receive_text())
                assert answer["type"] == "error" and answer["code"] != "internal", answer
            ws.send_text(json.dumps({"type": "ping"}))
            seen = until_pong(ws)
            assert not any(f.get("type") == "error" and f.get("code") == "internal" for f in seen), seen

    fuzz()


@pytest.mark.parametrize(
    ("how", "data", "code"),
    [
        ("bytes", b"\x00\xff binary", "bad_frame"),
        ("text", "[" * 5000, "bad_json"),
        ("text", '{"type": "event", "name": "deep", "data": ' + '{"a": ' * 5000 + "1" + "}" * 5001, "bad_json"),
        ("text", '{"type": "message", "id": "s1", "text": "\\ud800 unpaired surrogate"}', "bad_json"),
        ("text", '{"type": "message", "id": "n1", "text": "NUL \\u0000 inside"}', "bad_request"),
        ("text", json.dumps({"type": "message", "id": "big", "text": "x" * MAX_FRAME_BYTES}), "too_long"),
    ],
    ids=["binary", "deep-array", "deep-object", "surrogate", "nul", "oversized"],
)
def test_a_hostile_frame_gets_a_clear_error_and_the_socket_stays_open(
    ws_client: TestClient, how: str, data: str | bytes, code: str
) -> None:
    with ws_client.websocket_connect("/ws/chat/acme") as ws:
        ws.send_bytes(data) if how == "bytes" else ws.send_text(data)  # type: ignore[arg-type]
        answer = json.loads(ws.receive_text())
        assert answer["type"] == "error" and answer["code"] == code, answer
        ws.send_text(json.dumps({"type": "message", "id": "after", "text": "how many days to return items?"}))
        frames = [json.loads(ws.receive_text()) for _ in range(2)]
        assert frames[0]["type"] == "ack"
        while frames[-1]["type"] != "final":
            frames.append(json.loads(ws.receive_text()))
        assert "30 days" in frames[-1]["text"]
