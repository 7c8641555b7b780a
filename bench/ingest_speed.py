"""Ingestion speed: chunks embedded per second, end to end, against embedding alone.

Two corpora, each ingested into a fresh bot with server.ingest.ingest_paths (load, chunk,
embed, index, write the database rows), as `frontdesk kb ingest` does:

- `demo`: the demo help center (server/demo/knowledge, Markdown);
- `generated`: --docs generated Markdown articles of --sections sections each (help-center
  vocabulary, deterministic).

The baseline is the embedding model alone on the same chunk texts (Embedder.encode, one call,
as KnowledgeBase.upsert makes it); `ratio` = end-to-end rate / embedding-only rate, so 1.0
means ingestion costs nothing beyond the embedding.

    .venv/bin/python bench/ingest_speed.py
    .venv/bin/python bench/ingest_speed.py --docs 400 --sections 8
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import REPO, json_line, machine, print_table, ratio  # noqa: E402
from bench.ingest_memory import WORDS, open_services  # noqa: E402

TOPICS = ["Returns", "Shipping", "Payments", "Accounts", "Warranty", "Orders", "Repairs", "Gift cards"]


def generate(folder: Path, docs: int, sections: int, seed: int = 0) -> Path:
    """Write `docs` Markdown articles with `sections` '##' sections of 2-4 paragraphs each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(docs):
        topic = rng.choice(TOPICS)
        lines = [f"# {topic} guide {n}", ""]
        for s in range(sections):
            lines += [f"## {topic} question {s}", ""]
            for _ in range(rng.randint(2, 4)):
                sentences = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) for _ in range(4))
                lines += [". ".join(sentences).capitalize() + ".", ""]
        (folder / f"{topic.lower().replace(' ', '-')}-{n}.md").write_text("\n".join(lines), encoding="utf-8")
    return folder


def measure(corpus: str, folder: Path, work: Path, embedder: str) -> dict[str, object]:
    """Ingest a folder into a fresh bot, then embed its chunk texts alone; rates and their ratio."""
    from sqlmodel import Session, select

    from server.ingest import ingest_paths
    from server.tables import Chunk, Document

    services = open_services(work, embedder)
    try:
        started = time.perf_counter()
        results = ingest_paths(services.runtimes, "bench", [folder])
        ingest_s = time.perf_counter() - started
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise SystemExit(f"ingestion failed: {failed[:3]}")
        kb = services.runtimes.knowledge("bench")
        with Session(services.engine) as session:
            rows = session.exec(select(Chunk, Document).join(Document)).all()
        texts = [f"{d.title} - {c.section}\n{c.text}" if c.section else f"{d.title}\n{c.text}" for c, d in rows]
        started = time.perf_counter()
        kb.encode(texts)
        embed_s = time.perf_counter() - started
    finally:
        services.close()
    chunks = len(texts)
    ingest_rate, embed_rate = chunks / ingest_s, chunks / embed_s
    return {
        "corpus": corpus, "files": len(results), "chunks": chunks, "ingest_s": round(ingest_s, 2),
        "chunks_per_s": round(ingest_rate, 1), "embed_only_per_s": round(embed_rate, 1),
        "ratio": ratio(ingest_rate, embed_rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200, help="Generated articles.")
    parser.add_argument("--sections", type=int, default=6, help="Sections per generated article.")
    parser.add_argument("--embedder", choices=("model", "hash"), default="model",
                        help="'model': the configured embedding model; 'hash': a stand-in (pipeline overhead only).")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
        work = Path(tmp)
        rows.append(measure("demo", REPO / "server" / "demo" / "knowledge", work / "demo", args.embedder))
        corpus = generate(work / "corpus", args.docs, args.sections)
        rows.append(measure(f"generated {args.docs}x{args.sections}", corpus, work / "gen", args.embedder))
    print_table(rows, ["corpus", "files", "chunks", "ingest_s", "chunks_per_s", "embed_only_per_s", "ratio"])
    json_line({"bench": "ingest_speed", "embedder": args.embedder, "corpora": rows, "machine": machine()})


if __name__ == "__main__":
    main()
