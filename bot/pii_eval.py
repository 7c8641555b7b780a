"""Precision and recall of name and address detection on a labelled set (figures in docs/privacy.md).

The set is JSON lines: {"text": ..., "spans": [[kind, exact substring], ...]}. A labelled span counts
as found when a detected span of the same kind overlaps it; a detected span that overlaps no
labelled span of its kind is a false positive.

    python -m bot.pii_eval tests/bot/data/pii_names_addresses.jsonl [--ner]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.pii import PiiMatch, find_pii

KINDS = ("address", "name")


@dataclass
class Score:
    """Counts and rates for one kind."""

    kind: str
    labelled: int = 0
    found: int = 0  # labelled spans that were found
    detected: int = 0
    correct: int = 0  # detected spans that overlap a labelled one

    @property
    def precision(self) -> float:
        """Correct detections over all detections (1.0 when nothing was detected)."""
        return self.correct / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        """Labelled spans found over all labelled spans (1.0 when none were labelled)."""
        return self.found / self.labelled if self.labelled else 1.0


def load_cases(path: Path) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """The labelled texts with their spans as (kind, start, end).

    Raises:
        ValueError: a labelled substring is not in its text, or a kind is unknown.
    """
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        text, spans = row["text"], []
        for kind, part in row["spans"]:
            start = text.find(part)
            if kind not in KINDS or start < 0:
                raise ValueError(f"{path}:{number}: bad span {[kind, part]!r}")
            spans.append((kind, start, start + len(part)))
        cases.append((text, spans))
    return cases


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate(
    cases: Iterable[tuple[str, list[tuple[str, int, int]]]],
    find: Callable[[str], list[PiiMatch]] = find_pii,
) -> dict[str, Score]:
    """Scores per kind of `find` on the labelled cases."""
    scores = {kind: Score(kind) for kind in KINDS}
    for text, gold in cases:
        detected = [m for m in find(text) if m.kind in KINDS]
        for kind in KINDS:
            want = [(s, e) for k, s, e in gold if k == kind]
            got = [(m.start, m.end) for m in detected if m.kind == kind]
            score = scores[kind]
            score.labelled += len(want)
            score.found += sum(any(_overlaps(w, g) for g in got) for w in want)
            score.detected += len(got)
            score.correct += sum(any(_overlaps(g, w) for w in want) for g in got)
    return scores


def main(argv: list[str] | None = None) -> None:
    """Print precision and recall per kind, with the rules alone or with the NER model too."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--ner", action="store_true", help="also use the spaCy name model (bot/pii_ner.py)")
    args = parser.parse_args(argv)
    from bot import pii_ner

    if args.ner:
        pii_ner.enable()
    try:
        scores = evaluate(load_cases(args.path))
    finally:
        pii_ner.disable()
    print("| kind | labelled | detected | precision | recall |")
    print("|---|---|---|---|---|")
    for s in scores.values():
        print(f"| {s.kind} | {s.labelled} | {s.detected} | {s.precision:.2f} | {s.recall:.2f} |")


if __name__ == "__main__":
    main()
