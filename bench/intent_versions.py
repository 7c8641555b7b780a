"""Time one versioned training run (`intents train` / the console's Train button) on CLINC150 rows.

    python bench/intent_versions.py                  # 20 per intent = 3,000 rows + 100 oos
    python bench/intent_versions.py --per-intent 100 # the full train split: 15,000 rows + 100 oos
    frontdesk bench intent_versions [--per-intent K] [--data PATH]

What is timed is server.intent_models.train_version end to end, as the console runs it:
reading the stored examples, embedding them once, the held-out evaluation (k-fold up to 1,000
rows, one stratified 80/20 split above), the final fit and saving the version. The held-out
figures it stores are printed beside the score of the promoted model on CLINC150's own test +
oos_test rows, which it never saw, as a check that the held-out estimate is honest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _intents import sample  # noqa: E402
from intents_clinc150 import DEFAULT_DATA, load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-intent", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sqlmodel import Session

    from bot.intents.data import Examples
    from bot.intents.metrics import evaluate
    from server.context import Services
    from server.intent_models import train_version
    from server.intent_training import store_examples
    from server.seed import create_bot
    from server.settings import Settings
    from server.tables import Tenant

    data = load(args.data, quick=False)
    rows = sample(data["train"], None if args.per_intent >= 100 else args.per_intent, args.seed)
    rows += [(text, "oos") for text, _ in data["oos_train"]]
    folder = Path(tempfile.mkdtemp(prefix="fd-bench-"))
    services = Services.open(Settings(_env_file=None, data_dir=folder, seed_demo=False))
    with Session(services.engine) as session:
        tenant = Tenant(name="bench")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "clinc", "CLINC150")
    store_examples(services.runtimes, "clinc", Examples([t for t, _ in rows], [lab for _, lab in rows]))
    services.runtimes.embedder()  # load the model outside the timing, as a running server has it loaded
    phases: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def progress(message: str, fraction: float) -> None:
        now = time.perf_counter()
        if last[1]:
            phases[str(last[1])] = phases.get(str(last[1]), 0.0) + now - float(last[0])
        last[0], last[1] = now, message.split(" (")[0]

    started = time.perf_counter()
    row = train_version(services.runtimes, "clinc", progress=progress)
    seconds = time.perf_counter() - started
    test = data["test"] + data["oos_test"]
    model = services.runtimes.get("clinc").intents
    predicted = [p.intent for p in model.predict([t for t, _ in test])]
    unseen = evaluate([lab for _, lab in test], predicted)
    held = row.metrics or {}
    result = {
        "rows": len(rows),
        "intents": row.intents,
        "train_seconds": round(seconds, 1),
        "phases_seconds": {k: round(v, 1) for k, v in phases.items()},
        "evaluation": row.params.get("evaluation"),
        "held_out": {k: held.get(k) for k in ("accuracy", "macro_f1", "oos_recall", "in_scope_accuracy", "n")},
        "clinc_test": {k: unseen.get(k) for k in ("accuracy", "macro_f1", "oos_recall", "in_scope_accuracy", "n")},
        "embedding_model": services.runtimes.embedder().name,
        "machine": _common.machine(),
    }
    _common.json_line(result)
    services.close()


if __name__ == "__main__":
    main()
