"""The no-LLM backend: answer with the best-matching sentences of the top passage, cited."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np

from bot.generation.base import GenerationRequest
from knowledge.chunking import split_sentences

Encode = Callable[[list[str]], np.ndarray]
LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
MAX_UNITS = 3
MAX_CHARS = 420


def answer_units(text: str) -> list[str]:
    """Sentences and list items of a passage, Markdown markers stripped."""
    units: list[str] = []
    for line in text.splitlines():
        line = LIST_MARK.sub("", line).strip()
        line = re.sub(r"\*\*|__|`", "", line)
        if line and not line.startswith("#") and not line.startswith("|"):
            units.extend(split_sentences(line))
    return units


class ExtractiveGenerator:
    """Quotes the sentences of the top passages most similar to the question."""

    backend = "extractive"
    model = "extractive"

    def __init__(self, encode: Encode) -> None:
        self.encode = encode

    def select(self, request: GenerationRequest) -> str:
        """The answer text: the best units of the best passage, in document order, with [1]."""
        if not request.passages:
            return ""
        units = answer_units(request.passages[0].chunk.text)
        if not units:
            return ""
        vectors = self.encode([request.question, *units])
        scores = vectors[1:] @ vectors[0]
        best = float(scores.max())
        order = np.argsort(-scores)
        chosen: list[int] = []
        size = 0
        for i in order[:MAX_UNITS]:
            if scores[i] < best - 0.15 or (chosen and size + len(units[i]) > MAX_CHARS):
                break
            chosen.append(int(i))
            size += len(units[i])
        text = " ".join(units[i] for i in sorted(chosen))
        return f"{text} [1]"

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the extracted answer word by word so clients render it like a streamed reply."""
        answer = self.select(request)
        for piece in re.findall(r"\S+\s*", answer):
            if request.cancel.is_set():
                return
            yield piece
