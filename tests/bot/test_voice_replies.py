"""The per-bot "speak replies" setting: never, when the customer spoke, always; the server default otherwise."""

from __future__ import annotations

import pytest

from bot.voice.replies import MODES, effective_mode, parse_mode, wants_audio


@pytest.mark.parametrize(
    ("mode", "spoke", "expected"),
    [
        ("never", True, False),
        ("never", False, False),
        ("when_spoken", True, True),
        ("when_spoken", False, False),
        ("always", True, True),
        ("always", False, True),
    ],
)
def test_wants_audio_follows_the_mode(mode: str, spoke: bool, expected: bool) -> None:
    assert wants_audio(mode, spoke) is expected


def test_no_synthesiser_means_no_audio_whatever_the_mode() -> None:
    assert not any(wants_audio(mode, spoke, can_speak=False) for mode in MODES for spoke in (True, False))


def test_a_bot_setting_overrides_the_server_default() -> None:
    assert effective_mode("always", "never") == "always"
    assert effective_mode("never", "always") == "never"
    assert effective_mode(None, "always") == "always"
    assert effective_mode("", "never") == "never"
    assert effective_mode(None, "nonsense") == "when_spoken"
    assert effective_mode("loudly", "never") == "never"  # a bad stored value never breaks a turn


@pytest.mark.parametrize("value", ["loudly", "ALWAYS", 3, True])
def test_a_bad_submitted_value_is_a_clear_error(value: object) -> None:
    with pytest.raises(ValueError, match="speak_replies must be one of never, when_spoken, always"):
        parse_mode(value)


def test_empty_means_the_server_default() -> None:
    assert parse_mode("") is None and parse_mode(None) is None and parse_mode("always") == "always"
