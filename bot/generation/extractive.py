"""The no-LLM backend: answer with the best short span of the top passage, cited."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np

from bot.generation.base import GenerationRequest
from knowledge.chunking import split_sentences

# (question, candidate texts) -> one relevance score per text; higher is better.
Relevance = Callable[[str, list[str]], np.ndarray]
LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
MAX_UNITS = 4
PASSAGES = 1  # spans come from this many top passages (2 scored worse on the demo set)
MAX_CHARS = 450


def answer_units(text: str) -> list[str]:
    """Sentences and list items of a passage, Markdown markers stripped."""
    units: list[str] = []
    for line in text.splitlines():
        line = LIST_MARK.sub("", line).strip()
        line = re.sub(r"\*\*|__|`", "", line)
        if line and not line.startswith("#") and not line.startswith("|"):
            units.extend(split_sentences(line))
    return units


def windows(units: list[str], max_units: int = MAX_UNITS, max_chars: int = MAX_CHARS) -> list[tuple[int, int]]:
    """Every run of consecutive units that fits the size limits, as (start, end) pairs."""
    spans = []
    for start in range(len(units)):
        size = 0
        for end in range(start, min(start + max_units, len(units))):
            size += len(units[end]) + 1
            if size > max_chars and end > start:
                break
            spans.append((start, end + 1))
    return spans


def join_units(units: list[str]) -> str:
    """Join sentences; a list intro ending with ':' is followed by its items separated by ';'."""
    text = ""
    for unit in units:
        if not text:
            text = unit
        elif text.endswith(":") or re.search(r"[.!?。！？]$", text):
            text = f"{text} {unit}"
        else:
            text = f"{text}; {unit}"
    return text


class ExtractiveGenerator:
    """Quotes the span of the top passage that best answers the question."""

    backend = "extractive"
    model = "extractive"

    def __init__(self, relevance: Relevance, passages: int = PASSAGES) -> None:
        self.relevance = relevance
        self.passages = passages

    def select(self, request: GenerationRequest) -> str:
        """The answer: the best-scoring run of sentences of the top passages, cited by number."""
        texts: list[str] = []
        sources: list[int] = []
        for n, hit in enumerate(request.passages[: self.passages], start=1):
            units = answer_units(hit.chunk.text)
            for a, b in windows(units):
                texts.append(join_units(units[a:b]))
                sources.append(n)
        if not texts:
            return ""
        best = 0  # a single window is the answer whatever it scores: no model call
        if len(texts) > 1:
            best = int(np.asarray(self.relevance(request.question, texts), dtype=np.float32).argmax())
        return f"{texts[best]} [{sources[best]}]"

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the extracted answer word by word so clients render it like a streamed reply."""
        answer = self.select(request)
        for piece in re.findall(r"\S+\s*", answer):
            if request.cancel.is_set():
                return
            yield piece
