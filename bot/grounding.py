"""Map [n] markers in an answer to citations and flag answers the passages do not support."""

from __future__ import annotations

import re
from typing import Any

from bot.types import Citation
from knowledge.types import Hit

MARKER = re.compile(r"\[(\d{1,2})\]")
NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def citations_for(answer: str, passages: list[Hit]) -> list[Citation]:
    """Citations for the passages the answer cites, numbered as the answer numbers them."""
    cited = sorted({int(n) for n in MARKER.findall(answer) if 1 <= int(n) <= len(passages)})
    return [to_citation(n, passages[n - 1]) for n in cited]


def to_citation(n: int, hit: Hit) -> Citation:
    """A citation record for passage number n."""
    chunk = hit.chunk
    snippet = " ".join(chunk.text.split())
    return Citation(
        n=n,
        document=chunk.title,
        section=chunk.section,
        url=chunk.url,
        snippet=snippet[:240] + ("…" if len(snippet) > 240 else ""),
        chunk_id=chunk.id,
        score=round(hit.score, 4),
    )


def check(answer: str, passages: list[Hit], citations: list[Citation]) -> dict[str, Any]:
    """A cheap post-generation check: does it cite, and are its numbers in the passages?

    Numbers (prices, days, percentages) are where small models invent policy most often, so a
    number in the answer that appears in no passage is flagged.
    """
    source = set(NUMBER.findall(" ".join(h.chunk.text for h in passages)))
    body = MARKER.sub("", answer)
    unsupported = sorted(set(NUMBER.findall(body)) - source)
    return {
        "cited": [c.n for c in citations],
        "uncited": not citations,
        "unsupported_numbers": unsupported,
        "ok": bool(citations) and not unsupported,
    }
