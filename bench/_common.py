"""Small helpers shared by the bench scripts: repo paths, machine description, output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    return {
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "processor": platform.processor() or platform.machine(),
    }


class Stopwatch:
    """Accumulates wall-clock seconds over `with watch.running():` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def running(self):  # noqa: ANN201 - a context manager
        started = time.perf_counter()
        try:
            yield self
        finally:
            self.seconds += time.perf_counter() - started


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, rounded; None when the baseline is zero."""
    return round(value / baseline, 2) if baseline else None


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def json_line(payload: dict[str, Any]) -> None:
    """The machine-readable result: one JSON object on one line."""
    print(json.dumps(payload, ensure_ascii=False, sort_keys=True))
