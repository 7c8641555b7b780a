"""Intent classification on CLINC150 (150 intents + out-of-scope), few-shot and full, per method.

    python bench/intents_clinc150.py                    # 5-shot, 10-shot, full; both methods
    python bench/intents_clinc150.py --quick            # 15 intents, 5- and 10-shot, a smoke run
    python bench/intents_clinc150.py --settings 10 --methods finetune
    frontdesk bench intents_clinc150 [--data PATH] [--seed N] [--quick]

Protocol (the dataset README: develop on train/val/oos_val, report test and oos_test only):
- training rows: k examples per intent sampled with a fixed seed from `train` (or all of it),
  plus the 100 `oos_train` rows, which IntentClassifier uses only to choose its out-of-scope
  threshold on held-out predictions (never as a class to learn);
- scored on `test` + `oos_test` (4,500 + 1,000 rows) with bot.intents.metrics.evaluate, 'oos' being
  one more class; `closed_set_in_scope_acc` is the argmax over the intents on the 4,500 in-scope
  test rows with no out-of-scope option, the setting the published few-shot figures use;
- methods, in the same process: `frozen` (the baseline: logistic head on the packaged MiniLM's
  frozen vectors) and `finetune` (the default: contrastive fine-tune of MiniLM, then the head);
- train s: the whole fit() (fine-tuning, embedding the training texts, head, calibration);
- pred/s: batched predict() on a slice of test texts, embedding included, best of 3, alternating;
- ratios are to the frozen baseline of the same setting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _intents  # noqa: E402

DEFAULT_DATA = _common.SHARED / "datasets" / "clinc150" / "data_full.json"
ANCHORS_10_SHOT = {"RoBERTa+classifier": 0.916, "USE+ConveRT": 0.933, "ICDA": 0.948}
SETTINGS = {"5": ("5-shot", 5), "10": ("10-shot", 10), "full": ("full", None)}
COLUMNS = [
    "setting", "method", "accuracy", "in_scope_accuracy", "oos_recall", "macro_f1", "closed_set_in_scope_acc",
    "threshold", "train_s", "train_time_ratio", "pred_per_s", "pred_rate_ratio",
]


def load(path: Path, quick: bool) -> dict[str, list[tuple[str, str]]]:
    """The CLINC150 splits as (text, intent) rows; --quick keeps 15 intents."""
    if not path.is_file():
        sys.exit(f"CLINC150 not found at {path}; pass --data PATH/data_full.json")
    data = {k: [(str(t), str(lab)) for t, lab in rows] for k, rows in json.loads(path.read_text()).items()}
    if quick:
        keep = set(sorted({lab for _, lab in data["train"]})[:15])
        for split in ("train", "val", "test"):
            data[split] = [r for r in data[split] if r[1] in keep]
        data["oos_test"] = data["oos_test"][:150]
    return data


def run_setting(name, k, data, embedder, methods, seed, speed_rows):  # noqa: ANN001, ANN201, PLR0913
    """Both methods on one setting: figures per method, ratios to the frozen baseline."""
    from bot.intents import OUT_OF_SCOPE

    train = _intents.sample(data["train"], k, seed) + [(t, OUT_OF_SCOPE) for t, _ in data["oos_train"]]
    test = data["test"] + [(t, OUT_OF_SCOPE) for t, _ in data["oos_test"]]
    models, rows = {}, {}
    for method in methods:
        print(f"... {name} {method}", file=sys.stderr, flush=True)
        models[method], rows[method] = _intents.train_and_score(method, embedder, train, test, name)
    rates = _intents.prediction_rates(models, [t for t, _ in test[:speed_rows]])
    base = rows.get("frozen")
    for method, row in rows.items():
        row.update(setting=name, pred_per_s=rates[method])
        if base is not None:
            row["train_time_ratio"] = _common.ratio(row["train_s"], base["train_s"])
            row["pred_rate_ratio"] = _common.ratio(row["pred_per_s"], base["pred_per_s"])
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 data_full.json")
    parser.add_argument("--seed", type=int, default=0, help="seed for the k-shot samples")
    parser.add_argument("--quick", action="store_true", help="15 intents, 5/10-shot: a smoke run")
    parser.add_argument("--settings", default="5,10,full", help="comma list of 5, 10, full")
    parser.add_argument("--methods", default="frozen,finetune", help="comma list of frozen, finetune")
    parser.add_argument("--speed-rows", type=int, default=1100, help="test texts timed for predictions/s")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import Embedder

    data = load(args.data, args.quick)
    embedder = Embedder(KnowledgeSettings().embedding_model, device="cpu")
    chosen = [s.strip() for s in args.settings.split(",")]
    if args.quick:
        chosen = [s for s in chosen if s != "full"]
    methods = [m.strip() for m in args.methods.split(",")]
    speed_rows = min(args.speed_rows, 200) if args.quick else args.speed_rows
    results = []
    for key in chosen:
        name, k = SETTINGS[key]
        results += run_setting(name, k, data, embedder, methods, args.seed, speed_rows)

    print(
        f"CLINC150 test+oos_test ({results[0]['n']} rows, {results[0]['n_oos']} oos); embedder {embedder.name}, "
        f"CPU, {os.cpu_count()} cores; seed {args.seed}" + ("; QUICK (15 intents)" if args.quick else "")
    )
    _common.print_table(results, COLUMNS)
    _common.json_line(
        {
            "bench": "intents_clinc150",
            "quick": args.quick,
            "seed": args.seed,
            "embedding_model": embedder.name,
            "machine": _common.machine(),
            "anchors_10_shot_closed_set": ANCHORS_10_SHOT,
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
