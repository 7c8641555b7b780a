"""max_concurrent_turns and the local batched engine's max_batch: a full batch must be reachable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.generation.config import GenerationSettings
from server.settings import Settings


def settings(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_unset_max_concurrent_turns_follows_the_batch_of_the_local_batched_engine() -> None:
    assert settings().max_concurrent_turns == 8  # extractive: the plain default
    assert settings(generation=GenerationSettings(backend="local")).max_concurrent_turns == 32
    local = GenerationSettings(backend="local", max_batch=64)
    assert settings(generation=local).max_concurrent_turns == 64
    small = GenerationSettings(backend="local", max_batch=4)
    assert settings(generation=small).max_concurrent_turns == 8  # never below the default
    sequential = GenerationSettings(backend="local", engine="sequential")
    assert settings(generation=sequential).max_concurrent_turns == 8
    assert settings(generation=GenerationSettings(backend="openai")).max_concurrent_turns == 8


def test_the_same_from_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("FRONTDESK_GENERATION__BACKEND", "local")
    monkeypatch.setenv("FRONTDESK_GENERATION__MAX_BATCH", "48")
    assert Settings().max_concurrent_turns == 48
    monkeypatch.setenv("FRONTDESK_MAX_CONCURRENT_TURNS", "12")
    assert Settings().max_concurrent_turns == 12  # an explicit value is kept


def test_an_explicit_cap_below_the_batch_is_kept_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="server.settings"):
        capped = settings(max_concurrent_turns=8, generation=GenerationSettings(backend="local", max_batch=32))
    assert capped.max_concurrent_turns == 8
    assert "caps the local model's batch" in caplog.text and "at most 8 requests" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="server.settings"):
        settings(max_concurrent_turns=32, generation=GenerationSettings(backend="local", max_batch=32))
        settings(max_concurrent_turns=2)
    assert not caplog.text


def test_chat_service_capacity_follows_the_settings(tmp_path: Path) -> None:
    from server.chat import ChatService
    from server.context import Services
    from tests.conftest import make_settings

    local = GenerationSettings(backend="local", max_batch=40)  # the model is not loaded: no turn runs here
    services = Services.open(make_settings(tmp_path / "data", generation=local, seed_demo=False))
    try:
        assert ChatService(services).limiter.total_tokens == 40
    finally:
        services.close()
