"""Reading labelled utterances from CSV (the `intents train/eval` contract)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from knowledge.loaders.registry import clean_text

LABEL_COLUMNS = ("intent", "label", "category")


@dataclass
class Examples:
    """Texts with labels; out-of-scope rows carry the label 'oos'."""

    texts: list[str]
    labels: list[str]


def normalise_label(label: str | None) -> str:
    """Empty labels and any casing of 'oos' mean out-of-scope."""
    label = (label or "").strip()
    return OUT_OF_SCOPE if not label or label.lower() == OUT_OF_SCOPE else label


def read_csv(path: Path) -> Examples:
    """Read a CSV with a 'text' column and an 'intent', 'label' or 'category' column.

    NUL, other control characters (but tab and newline) and lone surrogates are dropped from texts
    and labels, as from uploaded documents: the row is kept (PostgreSQL cannot store a NUL), and a
    row left without text is skipped like a blank one.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [clean_text(f).strip().lower() for f in reader.fieldnames or []]
        if "text" not in fields:
            raise ConfigError(f"{path}: needs a 'text' column (found {fields})")
        label_col = next((c for c in LABEL_COLUMNS if c in fields), None)
        if label_col is None:
            raise ConfigError(f"{path}: needs a label column named one of {list(LABEL_COLUMNS)}")
        texts, labels = [], []
        for row in reader:
            row = {clean_text(k or "").strip().lower(): v for k, v in row.items()}
            text = clean_text(row.get("text") or "").strip()
            if text:
                texts.append(text)
                labels.append(normalise_label(clean_text(row.get(label_col) or "")))
    if not texts:
        raise ConfigError(f"{path}: no rows with text")
    return Examples(texts, labels)
