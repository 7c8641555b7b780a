"""The batched local engine: same greedy tokens as generate(), streaming, cancel, busy, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import GenerationTimeout, GenerationUnavailable
from bot.generation.base import GenerationRequest
from bot.generation.batcher import BatchLimits, ContinuousBatcher, GenerationBusy
from bot.generation.config import GenerationSettings
from bot.generation.local import LocalGenerator
from bot.types import BotProfile
from knowledge.types import ChunkRecord, Hit
from tests.generation.tiny_llm import build_tiny_llm

PROMPT_LENGTHS = (3, 17, 41, 90, 7)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="module")
def generator(model_dir: Path) -> Iterator[LocalGenerator]:
    """One batched generator (loaded with the real loader) shared by the module's tests."""
    gen = LocalGenerator(GenerationSettings(backend="local", model_path=str(model_dir), device="cpu"))
    yield gen
    gen.close()


def prompt(n: int) -> list[int]:
    """A prompt of n token ids drawn from the word part of the vocabulary (ids 6..63)."""
    return [6 + (7 * i + n) % 58 for i in range(n)]


def reference(gen: LocalGenerator, input_ids: list[int], max_new_tokens: int) -> list[int]:
    """What sequential greedy generate() writes for the prompt."""
    import torch

    ids = torch.tensor([input_ids])
    out = gen.lm.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        generation_config=gen.generation_config,
        max_new_tokens=max_new_tokens,
    )
    return [int(t) for t in out[0, len(input_ids) :]]


def batcher(gen: LocalGenerator, **limits: Any) -> ContinuousBatcher:
    return ContinuousBatcher(gen.lm, gen.generation_config, BatchLimits(**limits))


def run_in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def chat_request(words: int, **kwargs: Any) -> GenerationRequest:
    chunk = ChunkRecord(1, "d", "w1 w2 w3 w4", "Doc", "", "", "/kb/x")
    question = " ".join(f"w{(5 * i + words) % 58}" for i in range(words))
    hits = [Hit(chunk, 0.9, 0.1, 0, 0)]
    return GenerationRequest(question=question, passages=hits, bot=BotProfile("d", "D"), **kwargs)


def test_greedy_tokens_equal_sequential_generate_when_requests_join_at_different_steps(
    generator: LocalGenerator,
) -> None:
    engine = batcher(generator, max_batch=8, max_queue=8)
    new_tokens = 24
    results: dict[int, list[int]] = {}
    progress: dict[int, int] = {}

    def consume(n: int) -> None:
        for tokens in engine.tokens(prompt(n), new_tokens, threading.Event()):
            progress[n] = len(tokens)
            results[n] = tokens

    threads = []
    for i, n in enumerate(PROMPT_LENGTHS):  # each joins once the previous one has decoded a few steps
        if i:
            previous = PROMPT_LENGTHS[i - 1]
            wait_until(lambda p=previous: progress.get(p, 0) >= 3 or p in results and len(results[p]) == new_tokens)
        threads.append(run_in_thread(lambda n=n: consume(n)))
    for thread in threads:
        thread.join(60)
    engine.close()
    for n in PROMPT_LENGTHS:
        assert results[n] == reference(generator, prompt(n), new_tokens), f"prompt of {n} tokens"
    assert engine.in_flight == 0


def test_batched_text_equals_sequential_engine_text(model_dir: Path, generator: LocalGenerator) -> None:
    sequential = LocalGenerator(
        GenerationSettings(backend="local", model_path=str(model_dir), device="cpu", engine="sequential")
    )
    assert sequential.batcher is None
    for words in (2, 30):
        expected = "".join(sequential.stream(chat_request(words, max_new_tokens=20)))
        pieces = list(generator.stream(chat_request(words, max_new_tokens=20)))
        assert len(pieces) > 1, "the answer should stream in several pieces"
        assert "".join(pieces) == expected
        assert len(expected.split()) <= 20


def test_many_concurrent_streams_all_complete(generator: LocalGenerator) -> None:
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def chat(i: int) -> None:
        try:
            answers[i] = "".join(generator.stream(chat_request(1 + i % 5, max_new_tokens=16)))
        except BaseException as exc:
            errors.append(exc)

    threads = [run_in_thread(lambda i=i: chat(i)) for i in range(12)]
    for thread in threads:
        thread.join(120)
    assert not errors and len(answers) == 12
    for i in range(5):  # same question, same greedy answer, whatever the batch around it
        assert {answers[j] for j in range(12) if j % 5 == i} == {answers[i]}
    assert generator.batcher is not None and generator.batcher.in_flight == 0


def test_cancel_mid_stream_frees_the_slot(generator: LocalGenerator) -> None:
    engine = batcher(generator, max_batch=1, max_queue=0)
    cancel = threading.Event()
    stream = engine.tokens(prompt(10), 500, cancel)
    assert len(next(stream)) >= 1
    with pytest.raises(GenerationBusy):  # the only slot is taken
        next(engine.tokens(prompt(5), 4, threading.Event()))
    cancel.set()
    assert list(stream) == []  # a cancelled stream ends at once
    assert engine.in_flight == 0
    scheduler = engine._manager.batch_processor.scheduler  # the request also leaves transformers' batch
    wait_until(lambda: not scheduler.active_requests and not scheduler.waiting_requests, timeout=5)
    final = list(engine.tokens(prompt(5), 4, threading.Event()))
    assert final[-1] == reference(generator, prompt(5), 4)
    stream = engine.tokens(prompt(10), 500, threading.Event())  # dropping the iterator also frees it
    next(stream)
    stream.close()
    assert engine.in_flight == 0
    assert list(engine.tokens(prompt(5), 4, threading.Event()))[-1] == final[-1]
    engine.close()


def test_queue_bound_refuses_with_busy(generator: LocalGenerator) -> None:
    engine = batcher(generator, max_batch=1, max_queue=1)
    cancels = [threading.Event(), threading.Event()]
    first = engine.tokens(prompt(4), 500, cancels[0])
    next(first)
    waiting_done = threading.Event()
    run_in_thread(lambda: (list(engine.tokens(prompt(6), 3, cancels[1])), waiting_done.set()))
    wait_until(lambda: engine.in_flight == 2)
    with pytest.raises(GenerationBusy, match="busy") as refused:
        next(engine.tokens(prompt(8), 3, threading.Event()))
    assert isinstance(refused.value, GenerationUnavailable) and refused.value.retry_after > 0
    cancels[0].set()
    list(first)
    assert waiting_done.wait(30), "the waiting request runs once the slot frees"
    assert engine.in_flight == 0
    engine.close()


def test_model_error_reaches_every_request_and_the_engine_recovers(
    generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = batcher(generator, max_batch=2, max_queue=4)
    inner = generator.lm.model
    original = inner.forward
    broken = threading.Event()

    def forward(*args: Any, **kwargs: Any) -> Any:
        if broken.is_set():
            raise RuntimeError("CUDA error: device-side assert (simulated)")
        return original(*args, **kwargs)

    monkeypatch.setattr(inner, "forward", forward)
    outcomes: dict[int, BaseException | None] = {}

    def consume(i: int) -> None:
        try:
            list(engine.tokens(prompt(5 + i), 400, threading.Event()))
            outcomes[i] = None
        except BaseException as exc:
            outcomes[i] = exc

    threads = [run_in_thread(lambda i=i: consume(i)) for i in range(4)]  # 2 decoding, 2 waiting
    wait_until(lambda: engine.in_flight == 4)
    broken.set()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 4
    for exc in outcomes.values():
        assert isinstance(exc, GenerationUnavailable) and "simulated" in str(exc)
    assert engine.in_flight == 0
    broken.clear()
    assert list(engine.tokens(prompt(5), 6, threading.Event()))[-1] == reference(generator, prompt(5), 6)
    engine.close()


def test_closed_engine_refuses_new_requests(generator: LocalGenerator) -> None:
    engine = batcher(generator)
    assert list(engine.tokens(prompt(3), 2, threading.Event()))[-1]
    engine.close()
    with pytest.raises(GenerationUnavailable, match="closed"):
        next(engine.tokens(prompt(3), 2, threading.Event()))
    with pytest.raises(ValueError, match="prompt token"):
        next(batcher(generator).tokens([], 2, threading.Event()))


@pytest.mark.parametrize("engine", ["batched", "sequential"])
def test_sampling_at_the_configured_and_a_per_request_temperature(model_dir: Path, engine: str) -> None:
    settings = GenerationSettings(
        backend="local", model_path=str(model_dir), device="cpu", engine=engine, temperature=0.8
    )
    gen = LocalGenerator(settings)
    try:
        assert gen.generation_config.do_sample and gen.generation_config.temperature == 0.8
        for temperature in (0.8, 1.5):
            answer = "".join(gen.stream(chat_request(4, max_new_tokens=10, temperature=temperature)))
            assert answer.strip() and len(answer.split()) <= 10
    finally:
        gen.close()


def test_a_stalled_model_is_a_timeout_not_a_failure(generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = batcher(generator, max_batch=2, max_queue=0, idle_timeout=0.3)
    inner = generator.lm.model
    original = inner.forward
    stalled = threading.Event()

    def forward(*args: Any, **kwargs: Any) -> Any:
        if stalled.is_set():
            time.sleep(1.0)
        return original(*args, **kwargs)

    monkeypatch.setattr(inner, "forward", forward)
    stalled.set()
    with pytest.raises(GenerationTimeout, match="produced nothing") as timed_out:
        list(engine.tokens(prompt(5), 4, threading.Event()))
    assert timed_out.value.outcome == "timeout" and isinstance(timed_out.value, GenerationUnavailable)
    assert engine.in_flight == 0
    stalled.clear()
    engine.close()
