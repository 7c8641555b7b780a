"""Voice bench: word/character error rate and real-time factor of the speech-to-text model.

    python bench/voice.py [--stt packaged:whisper-base] [--device cpu|cuda] [--compute-type int8] [--json]

The speech is synthesised here with espeak-ng (en-us; Mandarin with cmn-latn-pinyin), because no
licensable recording of Mandarin customer speech ships in a package we can use. Synthetic speech
is not customer speech: espeak-ng's English is clean and slow, so English WER here flatters the
model; its Mandarin is robotic, so Chinese CER here is far worse than on real speakers. Read both
as a regression check of the pipeline, not as the accuracy customers will see.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.voice import TranscriptionFailed, VoiceEngine, VoiceSettings  # noqa: E402
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


def run(engine: VoiceEngine, phrases: list[str], language: str, score) -> dict:  # type: ignore[no-untyped-def]
    """Speak each phrase, transcribe it, and score it."""
    rows = []
    for phrase in phrases:
        data = engine.speak(phrase, language, "ogg").data
        seconds = engine.decode(data).seconds
        started = time.perf_counter()
        try:
            transcript = engine.hear(data)
            text, detected = transcript.text, transcript.language
        except TranscriptionFailed:  # nothing recognised: every character is an error
            text, detected = "", "-"
        elapsed = time.perf_counter() - started
        rows.append({
            "reference": phrase, "hypothesis": text, "detected": detected,
            "error": round(score(phrase, text), 3), "seconds": round(seconds, 2), "rtf": round(elapsed / seconds, 3),
        })
    return {
        "n": len(rows),
        "error_rate": round(statistics.mean(r["error"] for r in rows), 3),
        "language_id_accuracy": round(sum(r["detected"] == language for r in rows) / len(rows), 2),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 3),
        "rows": rows,
    }


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stt", default="packaged:whisper-base")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = VoiceSettings(stt=args.stt, device=args.device, compute_type=args.compute_type, threads=args.threads)
    with tempfile.TemporaryDirectory() as cache:
        engine = VoiceEngine(settings, Path(cache))
        started = time.perf_counter()
        engine.transcriber().load()  # type: ignore[attr-defined]
        load = time.perf_counter() - started
        engine.hear(engine.speak("warm up", "en", "ogg").data)
        results = {
            "model": args.stt, "device": args.device, "compute_type": args.compute_type, "threads": args.threads,
            "load_seconds": round(load, 2),
            "english_wer": run(engine, ENGLISH, "en", wer),
            "chinese_cer": run(engine, CHINESE, "zh", cer),
        }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(f"model {args.stt} on {args.device} ({args.compute_type}, {args.threads} threads), load {load:.1f}s")
    for key in ("english_wer", "chinese_cer"):
        r = results[key]
        print(f"{key}: {r['error_rate']:.3f} over {r['n']} phrases; language id {r['language_id_accuracy']:.0%}; "
              f"median real-time factor {r['rtf_median']:.2f}")
        for row in r["rows"]:
            print(f"  {row['error']:.2f}  {row['reference']}  ->  {row['hypothesis']}")


if __name__ == "__main__":
    main()
