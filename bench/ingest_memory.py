"""Memory of ingesting a large PDF: does it stream page by page?

Generates a ~50 MB PDF locally (raw PDF syntax, no generator library): many pages, each with
30 lines of help-center text and one embedded image (random RGB, uncompressed) that takes the
file to its size the way photos and scans do in real manuals. Then, in this process:

1. `loader`: reads every page through knowledge.loaders (what ingestion iterates), and
2. `ingest`: runs the whole ingestion (server.ingest.ingest_file: load, chunk, embed, index,
   database) into a fresh bot,

each time sampling the resident set size (RSS) every 10 ms and reporting the peak over the
baseline taken just before (models already loaded). A loader that kept the file in memory
would grow by about the file size; a streaming one stays flat.

    .venv/bin/python bench/ingest_memory.py                    # 50 MB, the packaged embedding model
    .venv/bin/python bench/ingest_memory.py --embedder hash    # no model: loading and chunking only
    .venv/bin/python bench/ingest_memory.py --mb 200 --image-kb 256
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import json_line, machine, print_table  # noqa: E402

WORDS = [
    "order", "refund", "shipping", "parcel", "warranty", "invoice", "account", "password", "delivery", "return",
    "exchange", "store", "support", "payment", "card", "courier", "label", "tracking", "address", "customs",
    "battery", "charger", "screen", "repair",
]


def write_pdf(path: Path, target_mb: float, image_kb: int, seed: int = 0) -> int:
    """Write a text + image PDF of about target_mb to path, streaming; returns its page count."""
    rng = random.Random(seed)
    side = max(8, int((image_kb * 1024 / 3) ** 0.5))
    offsets: dict[int, int] = {}
    pages: list[int] = []
    with path.open("wb") as out:

        def obj(number: int, body: bytes) -> None:
            offsets[number] = out.tell()
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        out.write(b"%PDF-1.4\n")
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        number = 4
        while out.tell() < target_mb * 2**20:
            lines = [" ".join(rng.choice(WORDS) for _ in range(10)) + "." for _ in range(30)]
            ops = ["BT /F1 10 Tf 14 TL 50 740 Td", *(f"({line}) '" for line in lines), "ET"]
            content = "\n".join([*ops, "q 200 0 0 200 200 50 cm /Im1 Do Q"]).encode()
            image = rng.randbytes(side * side * 3)
            page, contents, picture = number, number + 1, number + 2
            obj(contents, b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
            obj(picture, b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream" % (side, side, len(image), image))
            obj(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources "
                b"<< /Font << /F1 3 0 R >> /XObject << /Im1 %d 0 R >> >> >>" % (contents, picture))
            pages.append(page)
            number += 3
        kids = " ".join(f"{p} 0 R" for p in pages).encode()
        obj(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)))
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % number)
        out.writelines(b"%010d 00000 n \n" % offsets[n] for n in range(1, number))
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (number, xref))
    return len(pages)


def rss_mb() -> float:
    """This process's resident set size now (Linux /proc, else psutil)."""
    try:
        with open("/proc/self/statm") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss / 2**20


class PeakRss:
    """Samples RSS on a thread while a block runs; `peak` is the highest seen."""

    def __init__(self, every: float = 0.01) -> None:
        self.every, self.peak, self._stop = every, 0.0, threading.Event()

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mb())


def open_services(folder: Path, embedder: str):  # type: ignore[no-untyped-def]
    """Services on a fresh database in folder with one bot 'bench' (and a stand-in model for 'hash')."""
    from sqlmodel import Session

    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import create_bot
    from server.settings import Settings
    from server.tables import Tenant

    settings = Settings(
        _env_file=None, data_dir=folder, database_url=f"sqlite:///{folder / 'fd.db'}", seed_demo=False,
        knowledge=KnowledgeSettings(reranker="none"),
    )
    services = Services.open(settings)
    if embedder == "hash":
        from tests.fakes import HashEmbedder

        key = (settings.knowledge.embedding_model, settings.knowledge.device)
        services.embedders._models[key] = HashEmbedder(dim=384)  # type: ignore[assignment]
    with Session(services.engine) as session:
        tenant = Tenant(name="Bench")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "bench", "Bench")
    services.runtimes.knowledge("bench").encode(["warm up"])  # load the model before the baseline
    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="PDF size to generate (MiB).")
    parser.add_argument("--image-kb", type=int, default=64, help="Image bytes per page (KiB); less means more text.")
    parser.add_argument("--embedder", choices=("model", "hash"), default="model",
                        help="'model': the configured embedding model; 'hash': a stand-in without a model.")
    parser.add_argument("--keep-pdf-cache", action="store_true",
                        help="Do not clear pypdf's object cache between pages (to see what clearing saves).")
    args = parser.parse_args()

    from knowledge.loaders import load_path
    from knowledge.loaders import pdf as pdf_loader

    if args.keep_pdf_cache:
        pdf_loader.CACHE_PAGES = 10**9
    from server.ingest import ingest_file

    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
        folder = Path(tmp)
        pdf = folder / "big-manual.pdf"
        pages = write_pdf(pdf, args.mb, args.image_kb)
        size_mb = pdf.stat().st_size / 2**20
        services = open_services(folder / "data", args.embedder)
        rows = []
        with PeakRss() as loader_rss:
            started = time.perf_counter()
            chars = sum(len(part.text) for part in load_path(pdf).iter_parts())
            loader_s = time.perf_counter() - started
        rows.append({"stage": "loader (pages only)", "seconds": round(loader_s, 1),
                     "baseline_mb": round(loader_rss.baseline), "peak_mb": round(loader_rss.peak),
                     "growth_mb": round(loader_rss.peak - loader_rss.baseline, 1), "chunks": None})
        with PeakRss() as ingest_rss:
            started = time.perf_counter()
            result = ingest_file(services.runtimes, "bench", pdf)
            ingest_s = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"ingestion failed: {result.error}")
        rows.append({"stage": f"ingest ({args.embedder})", "seconds": round(ingest_s, 1),
                     "baseline_mb": round(ingest_rss.baseline), "peak_mb": round(ingest_rss.peak),
                     "growth_mb": round(ingest_rss.peak - ingest_rss.baseline, 1), "chunks": result.chunks})
        services.close()
    print(f"PDF: {size_mb:.1f} MiB, {pages} pages, {chars / 1e6:.2f} M characters of text")
    print_table(rows, ["stage", "seconds", "baseline_mb", "peak_mb", "growth_mb", "chunks"])
    json_line({
        "bench": "ingest_memory", "pdf_mb": round(size_mb, 1), "pages": pages, "text_chars": chars,
        "embedder": args.embedder, "pdf_cache_cleared": not args.keep_pdf_cache, "stages": rows, "machine": machine(),
    })


if __name__ == "__main__":
    main()
