"""A small lexicon sentiment scorer for rule conditions (English and Chinese).

Crude on purpose, and honest about it: a few hundred customer-service words with weights,
"not"/"不" flipping the next words, "very"/"太" amplifying, "!" and CAPITALS adding weight.
It catches the plain cases ("this is terrible, I'm so angry", "太差了", "thanks, great help")
and misses sarcasm, mixed feelings, other languages and anything subtle. Use it to route
clearly upset customers, not to measure satisfaction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

_EN: dict[str, float] = {
    # negative
    "angry": -2.5, "annoyed": -2.0, "annoying": -2.0, "awful": -3.0, "bad": -2.0, "broken": -1.5,
    "complain": -1.5, "complaint": -1.5, "damaged": -1.5, "disappointed": -2.5, "disappointing": -2.5,
    "disgusting": -3.0, "frustrated": -2.5, "frustrating": -2.5, "furious": -3.5, "garbage": -3.0,
    "hate": -3.0, "horrible": -3.0, "joke": -1.5, "late": -1.0, "lied": -2.5, "lost": -1.0,
    "mad": -2.0, "missing": -1.0, "never": -0.5, "pathetic": -3.0, "poor": -2.0, "ridiculous": -2.5,
    "rude": -2.5, "scam": -3.5, "sucks": -3.0, "terrible": -3.0, "unacceptable": -3.0, "unhappy": -2.5,
    "upset": -2.5, "useless": -3.0, "waste": -2.5, "worse": -2.5, "worst": -3.5, "wrong": -1.5,
    "cancel": -0.5, "refund": -0.5, "stupid": -3.0, "fed": -1.0,
    # positive
    "amazing": 3.0, "appreciate": 2.0, "awesome": 3.0, "best": 2.5, "excellent": 3.0, "fantastic": 3.0,
    "glad": 2.0, "good": 1.9, "great": 2.5, "happy": 2.5, "helpful": 2.0, "love": 3.0, "lovely": 2.5,
    "nice": 1.8, "perfect": 3.0, "pleased": 2.0, "quick": 1.0, "satisfied": 2.0, "thank": 1.5,
    "thanks": 1.5, "wonderful": 3.0, "fast": 1.0, "easy": 1.5, "brilliant": 3.0,
}
_ZH: dict[str, float] = {
    "垃圾": -3.0, "太差": -3.0, "差劲": -3.0, "生气": -2.5, "愤怒": -3.0, "失望": -2.5, "投诉": -2.0,
    "骗子": -3.5, "糟糕": -3.0, "烂": -2.5, "慢": -1.0, "坏": -2.0, "差": -2.0, "气死": -3.5, "恶心": -3.0,
    "谢谢": 1.5, "感谢": 2.0, "满意": 2.0, "很好": 2.5, "好": 1.5, "棒": 2.5, "喜欢": 2.5, "不错": 2.0,
    "开心": 2.5, "快": 1.0,
}
_NEGATORS = {"not", "no", "never", "dont", "don't", "isnt", "isn't", "wasnt", "wasn't", "cant", "can't",
             "won't", "wont", "didn't", "didnt", "doesn't", "doesnt", "aren't", "arent", "nothing"}
_BOOSTERS = {"very": 1.5, "so": 1.4, "really": 1.4, "extremely": 1.8, "totally": 1.5, "absolutely": 1.6,
             "completely": 1.5, "super": 1.5}
_ZH_NEGATORS = ("不", "没有", "没")
_ZH_BOOSTERS = {"太": 1.5, "非常": 1.6, "很": 1.3, "超": 1.5, "真": 1.3}
_WORD = re.compile(r"[A-Za-z']+")
NEGATIVE_BELOW = -0.25
POSITIVE_ABOVE = 0.25


@dataclass(frozen=True)
class Sentiment:
    """A score in [-1, 1], its label and the words that moved it."""

    score: float
    label: str  # negative | neutral | positive
    evidence: tuple[str, ...]


@lru_cache(maxsize=512)  # every rule with this condition asks about the same message
def score(text: str) -> Sentiment:
    """Score a message: below -0.25 is negative, above 0.25 positive, neutral between."""
    total, evidence = _english(text)
    zh_total, zh_evidence = _chinese(text)
    total += zh_total
    if total and text.count("!"):
        total *= 1 + min(text.count("!"), 4) * 0.1
    value = round(total / math.sqrt(total * total + 15), 3)  # VADER's normalisation into (-1, 1)
    label = "negative" if value < NEGATIVE_BELOW else "positive" if value > POSITIVE_ABOVE else "neutral"
    return Sentiment(value, label, tuple(evidence + zh_evidence))


def _english(text: str) -> tuple[float, list[str]]:
    total, evidence, flip, boost = 0.0, [], 0, 1.0
    for raw in _WORD.findall(text):
        word = raw.lower()
        if word in _NEGATORS:
            flip = 3  # the next three words are negated
            continue
        if word in _BOOSTERS:
            boost = _BOOSTERS[word]
            continue
        weight = _EN.get(word) or _EN.get(word.rstrip("s")) or 0.0
        if weight:
            weight *= boost * (1.3 if raw.isupper() and len(raw) > 1 else 1.0)
            if flip:
                weight *= -0.75
            total += weight
            evidence.append(("not " if flip else "") + word)
            boost = 1.0
        flip = max(flip - 1, 0)
    return total, evidence


def _chinese(text: str) -> tuple[float, list[str]]:
    total, evidence = 0.0, []
    covered: set[int] = set()
    for term in sorted(_ZH, key=len, reverse=True):  # longest first: 太差 before 差
        for match in re.finditer(re.escape(term), text):
            span = set(range(match.start(), match.end()))
            if span & covered:
                continue
            covered |= span
            before = text[max(0, match.start() - 2):match.start()]
            weight = _ZH[term]
            weight *= next((v for k, v in _ZH_BOOSTERS.items() if before.endswith(k)), 1.0)
            negated = any(before.endswith(n) for n in _ZH_NEGATORS)
            if negated:
                weight *= -0.75
            total += weight
            evidence.append(("不" if negated else "") + term)
    return total, evidence
