"""The generation interface every backend implements."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from bot.types import BotProfile, Turn
from knowledge.types import Hit


@dataclass
class GenerationRequest:
    """What a backend needs to write one grounded answer."""

    question: str
    passages: list[Hit]
    bot: BotProfile
    history: list[Turn] = field(default_factory=list)
    locale: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)


class Generator(Protocol):
    """A backend that streams an answer as text pieces."""

    backend: str
    model: str

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer in pieces; stop early when request.cancel is set.

        Args:
            request: the question, the numbered passages and the conversation so far.

        Returns:
            An iterator of text pieces whose concatenation is the answer.
        """
        ...
