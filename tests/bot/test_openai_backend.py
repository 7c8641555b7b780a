"""The openai backend against an httpx mock of an OpenAI-compatible streaming server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import pytest

from bot.errors import GenerationBusy, GenerationTimeout, GenerationUnavailable, generation_outcome
from bot.generation import openai_compat
from bot.generation.config import GenerationSettings
from bot.generation.factory import create_generator
from bot.generation.openai_compat import OpenAIGenerator, retry_after
from bot.stages import fallback_reason
from knowledge.rerank import Relevance
from tests.bot.generator_contract import GeneratorContract, make_request
from tests.fakes import HashEmbedder

DELTAS = ["Standard ", "shipping ", "takes 5 business days ", "[1]."]
Handler = Callable[[httpx.Request], httpx.Response]


def event(content: str | None = None, role: str | None = None, finish: str | None = None) -> bytes:
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def sse(deltas: list[str]) -> Iterator[bytes]:
    """A well-formed stream, one network read per event, with the usual extras around it."""
    yield b": keep-alive comment\n\n"
    yield event(role="assistant")
    for piece in deltas:
        yield event(piece)
    yield event(finish="stop")
    yield b"data: [DONE]\n\n"
    yield event("after done, never read")


def streaming(body: Iterator[bytes], status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=body)


class FakeServer:
    """Answers each POST with the next scripted response (the last one repeats)."""

    def __init__(self, *responses: Callable[[], httpx.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses[min(len(self.requests), len(self.responses)) - 1]()


def make_generator(server: FakeServer, **settings: object) -> OpenAIGenerator:
    options: dict[str, object] = {
        "openai_base_url": "http://llm.test/v1/",
        "openai_model": "m",
        "retries": 2,
    }
    options.update(settings)
    return OpenAIGenerator(GenerationSettings(**options), transport=httpx.MockTransport(server))


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry back-off instead of waiting for it."""
    recorded: list[float] = []
    monkeypatch.setattr(openai_compat, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def ok() -> httpx.Response:
    return streaming(sse(DELTAS))


def fail(status: int, headers: dict[str, str] | None = None, code: str | None = None) -> Callable[[], httpx.Response]:
    error = {"message": "overloaded", **({"code": code} if code else {})}
    return lambda: httpx.Response(status, headers=headers, json={"error": error})


class TestOpenAIContract(GeneratorContract):
    @pytest.fixture
    def generator(self) -> OpenAIGenerator:
        return make_generator(FakeServer(ok))

    @pytest.fixture
    def expected_answer(self) -> str:
        return "".join(DELTAS)


def test_deltas_are_streamed_in_order() -> None:
    assert list(make_generator(FakeServer(ok)).stream(make_request())) == DELTAS


def test_the_request_is_an_openai_streaming_chat_completion() -> None:
    server = FakeServer(ok)
    generator = make_generator(server, openai_api_key="sk-test", max_new_tokens=99)

    list(generator.stream(make_request("How long does standard shipping take?")))

    (request,) = server.requests
    assert (request.method, request.url.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert (body["model"], body["stream"], body["temperature"]) == ("m", True, 0.0)
    assert body["max_tokens"] == 256  # from the request, not the settings
    assert body["messages"][0]["role"] == "system"
    assert "Acme" in body["messages"][0]["content"]
    user = body["messages"][-1]
    assert user["role"] == "user"
    assert "[1] Doc 1:\nOur store opens at nine." in user["content"]
    assert user["content"].endswith("Question: How long does standard shipping take?")


def test_no_api_key_sends_no_authorization_header() -> None:
    server = FakeServer(ok)

    list(make_generator(server).stream(make_request()))

    assert "authorization" not in server.requests[0].headers


def test_a_server_error_before_the_first_token_is_retried(sleeps: list[float]) -> None:
    server = FakeServer(fail(500), ok)

    pieces = list(make_generator(server).stream(make_request()))

    assert pieces == DELTAS
    assert len(server.requests) == 2
    assert sleeps == [0.25]


def test_a_server_that_keeps_failing_is_unavailable_after_the_retries(sleeps: list[float]) -> None:
    server = FakeServer(fail(500))

    with pytest.raises(GenerationUnavailable, match="500") as failed:
        list(make_generator(server, retries=2).stream(make_request()))

    assert generation_outcome(failed.value) == "down"
    assert len(server.requests) == 3
    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_server_that_names_a_long_wait_is_busy_at_once(status: int, sleeps: list[float]) -> None:
    """The server's Retry-After is longer than a turn should wait: no retry, its wait goes to the customer."""
    server = FakeServer(fail(status, {"Retry-After": "7"}))

    with pytest.raises(GenerationBusy, match=f"{status}") as refused:
        list(make_generator(server, retries=2).stream(make_request()))

    assert refused.value.retry_after == 7 and generation_outcome(refused.value) == "busy"
    assert fallback_reason("openai", refused.value) == "openai busy: GenerationBusy"
    assert len(server.requests) == 1 and sleeps == []


def test_a_busy_server_without_retry_after_is_retried_then_busy(sleeps: list[float]) -> None:
    server = FakeServer(fail(503))

    with pytest.raises(GenerationBusy, match="503") as refused:
        list(make_generator(server, retries=2).stream(make_request()))

    assert refused.value.retry_after == 0  # no hint: the server's own busy retry_after applies
    assert len(server.requests) == 3 and sleeps == [0.25, 0.5]


def test_a_short_retry_after_is_honoured_before_the_retry(sleeps: list[float]) -> None:
    server = FakeServer(fail(429, {"Retry-After": "1"}), ok)

    assert list(make_generator(server).stream(make_request())) == DELTAS
    assert len(server.requests) == 2 and sleeps == [1.0]


def test_a_spent_quota_is_not_busy() -> None:
    """OpenAI answers 429 insufficient_quota when the account is out of credit: that does not pass by waiting."""
    server = FakeServer(fail(429, {"Retry-After": "7"}, code="insufficient_quota"))

    with pytest.raises(GenerationUnavailable, match="insufficient_quota") as failed:
        list(make_generator(server, retries=0).stream(make_request()))

    assert not isinstance(failed.value, GenerationBusy) and generation_outcome(failed.value) == "down"


def test_a_gateway_timeout_is_a_timeout() -> None:
    server = FakeServer(fail(504))

    with pytest.raises(GenerationTimeout, match="504") as timed_out:
        list(make_generator(server, retries=0).stream(make_request()))

    assert fallback_reason("openai", timed_out.value) == "openai timeout: GenerationTimeout"


def test_a_busy_answer_counts_the_other_requests_in_flight() -> None:
    server = FakeServer(ok, fail(429, {"Retry-After": "9"}))
    generator = make_generator(server, retries=0)
    holding = generator.stream(make_request())
    assert next(holding) == DELTAS[0]  # one answer being written

    with pytest.raises(GenerationBusy) as refused:
        list(generator.stream(make_request()))

    assert refused.value.in_flight == 1 and generator.in_flight == 1
    assert list(holding) == DELTAS[1:]
    assert generator.in_flight == 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        (None, 0.0),
        ("", 0.0),
        ("soon", 0.0),
        ("-3", 0.0),
        ("nan", 0.0),
        ("86400", 300.0),  # capped: a day is no answer to give a customer
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past
    ],
)
def test_retry_after_headers(header: str | None, seconds: float) -> None:
    assert retry_after(header) == seconds


def test_a_retry_after_date_is_read_as_seconds_from_now() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert 25 <= retry_after(later) <= 30


def test_a_malformed_event_is_unavailable() -> None:
    server = FakeServer(lambda: streaming(iter([b"data: {not json\n\n"])))

    with pytest.raises(GenerationUnavailable, match="malformed"):
        list(make_generator(server, retries=0).stream(make_request()))


@pytest.mark.parametrize(
    "bad",
    [
        b"data: 42\n\n",
        b'data: {"object": "chat.completion.chunk"}\n\n',
        b'data: {"choices": [null]}\n\n',
        b'data: {"choices": [{"delta": "oops"}]}\n\n',
    ],
)
def test_events_of_the_wrong_shape_are_malformed(bad: bytes) -> None:
    server = FakeServer(lambda: streaming(iter([bad])))

    with pytest.raises(GenerationUnavailable, match="malformed"):
        list(make_generator(server, retries=0).stream(make_request()))


def test_a_chunk_with_empty_choices_is_skipped() -> None:
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}\n\n'
    server = FakeServer(lambda: streaming(iter([usage, *sse(DELTAS)])))

    assert list(make_generator(server, retries=0).stream(make_request())) == DELTAS


def test_a_failure_after_the_first_token_is_not_retried() -> None:
    server = FakeServer(lambda: streaming(iter([event("Standard "), b"data: {oops\n\n"])))
    stream = make_generator(server).stream(make_request())

    assert next(stream) == "Standard "
    with pytest.raises(GenerationUnavailable):
        next(stream)
    assert len(server.requests) == 1


def test_a_connection_dropped_mid_answer_is_not_retried() -> None:
    def body() -> Iterator[bytes]:
        yield event("Standard ")
        raise httpx.ReadError("connection reset")

    server = FakeServer(lambda: streaming(body()))
    pieces: list[str] = []

    with pytest.raises(GenerationUnavailable, match="connection reset"):
        pieces.extend(make_generator(server).stream(make_request()))

    assert pieces == ["Standard "]
    assert len(server.requests) == 1


def test_connection_errors_are_unavailable_after_the_retries(sleeps: list[float]) -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    generator = OpenAIGenerator(
        GenerationSettings(openai_base_url="http://llm.test/v1", retries=3),
        transport=httpx.MockTransport(refuse),
    )

    with pytest.raises(GenerationUnavailable, match="connection refused"):
        list(generator.stream(make_request()))

    assert len(attempts) == 4
    assert sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("timeout", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_timeout_is_retried_then_a_timeout(timeout: type[httpx.TimeoutException], sleeps: list[float]) -> None:
    attempts: list[httpx.Request] = []

    def slow(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise timeout("timed out", request=request)

    generator = OpenAIGenerator(
        GenerationSettings(openai_base_url="http://llm.test/v1", retries=1),
        transport=httpx.MockTransport(slow),
    )

    with pytest.raises(GenerationTimeout, match="timed out") as timed_out:
        list(generator.stream(make_request()))

    assert len(attempts) == 2 and sleeps == [0.25]
    assert fallback_reason("openai", timed_out.value) == "openai timeout: GenerationTimeout"


def test_a_stream_that_stalls_mid_answer_is_a_timeout_and_not_retried() -> None:
    def body() -> Iterator[bytes]:
        yield event("Standard ")
        raise httpx.ReadTimeout("read timed out")

    server = FakeServer(lambda: streaming(body()))
    pieces: list[str] = []

    with pytest.raises(GenerationTimeout, match="read timed out"):
        pieces.extend(make_generator(server).stream(make_request()))

    assert pieces == ["Standard "] and len(server.requests) == 1


def test_the_factory_builds_the_openai_backend() -> None:
    generator = create_generator(
        GenerationSettings(backend="openai", openai_model="qwen"), Relevance(HashEmbedder(), None)
    )

    assert isinstance(generator, OpenAIGenerator)
    assert (generator.backend, generator.model) == ("openai", "qwen")
    generator.close()


@pytest.mark.parametrize("redact_pii", [False, True])
def test_personal_data_leaves_only_when_redaction_is_off(redact_pii: bool) -> None:
    server = FakeServer(ok)
    question = "My card 4111 1111 1111 1111 was charged twice, mail me at jo@example.com"
    list(make_generator(server, redact_pii=redact_pii).stream(make_request(question)))

    sent = server.requests[0].content.decode()
    assert ("4111 1111 1111 1111" in sent) is not redact_pii
    assert ("jo@example.com" in sent) is not redact_pii
    if redact_pii:
        assert "My card [CARD] was charged twice, mail me at [EMAIL]" in json.loads(sent)["messages"][-1]["content"]
