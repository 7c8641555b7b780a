"""When a bot speaks its replies: a per-bot choice over the server's default (docs/voice.md).

The server setting `FRONTDESK_VOICE__REPLY_AUDIO` is the default for every bot; a bot may set its
own `speak_replies` (stored with the bot's settings): never, when the customer spoke (the default),
or always (every reply, typed or spoken, where the channel can play audio).
"""

from __future__ import annotations

from typing import Literal, get_args

SpeakReplies = Literal["never", "when_spoken", "always"]
MODES: tuple[str, ...] = get_args(SpeakReplies)
DEFAULT_MODE: SpeakReplies = "when_spoken"
LABELS: dict[str, str] = {
    "never": "Never",
    "when_spoken": "When the customer spoke",
    "always": "Always",
}


def parse_mode(value: object) -> SpeakReplies | None:
    """A stored or submitted setting as a mode; None or "" means "use the server's default".

    Raises:
        ValueError: the value is not one of never, when_spoken, always (or empty).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in MODES:
        raise ValueError(f"speak_replies must be one of {', '.join(MODES)} (or empty for the server default)")
    return value  # type: ignore[return-value]


def effective_mode(bot_setting: object, server_default: str = DEFAULT_MODE) -> SpeakReplies:
    """The mode that applies to a bot: its own setting, else the server's default.

    A stored value that is not a mode (an old or hand-edited row) falls back to the server default
    rather than failing a customer's turn.
    """
    try:
        own = parse_mode(bot_setting)
    except ValueError:
        own = None
    if own is not None:
        return own
    return server_default if server_default in MODES else DEFAULT_MODE  # type: ignore[return-value]


def wants_audio(mode: str, spoke: bool, can_speak: bool = True) -> bool:
    """Whether a reply is also spoken.

    Args:
        mode: never | when_spoken | always.
        spoke: whether the customer's message was a voice message.
        can_speak: whether the server has a speech synthesiser at all.
    """
    if not can_speak:
        return False
    return mode == "always" or (mode == "when_spoken" and spoke)
