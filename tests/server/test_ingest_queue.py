"""Background ingestion without a server: queue, worker, progress, restart recovery, old chunks kept.

A fake embedder (tests.fakes.HashEmbedder) keeps these fast; tests/server/test_documents_api.py
drives the same flow through the HTTP API with the real model.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, select

sys.path.append(str(Path(__file__).resolve().parents[2]))
from server.context import Services  # noqa: E402
from server.ingest import IngestResult, ingest_file, prepare, stored_file  # noqa: E402
from server.ingest_queue import IngestQueue, process_queued, recover  # noqa: E402
from server.tables import Chunk, Document  # noqa: E402
from server.uploads import UploadedFile  # noqa: E402
from tests.knowledge.office_files import csv_file, pdf_with_text  # noqa: E402


@pytest.fixture()
def svc(shop_services: Services) -> Services:
    """Services on a fresh database with one bot 'shop' and a fake embedding model (tests/conftest.py)."""
    return shop_services


def upload(tmp_path: Path, name: str, data: bytes) -> UploadedFile:
    """A received upload, as server.uploads leaves it."""
    path = tmp_path / f"incoming-{name}"
    path.write_bytes(data)
    received = UploadedFile(name, path, len(data))
    received.hasher.update(data)
    return received


def row(svc: Services, slug: str) -> Document:
    with Session(svc.engine) as session:
        found = session.exec(select(Document).where(Document.slug == slug)).one()
        session.expunge(found)
        return found


def chunk_texts(svc: Services, slug: str) -> list[str]:
    with Session(svc.engine) as session:
        doc = session.exec(select(Document).where(Document.slug == slug)).one()
        return list(session.exec(select(Chunk.text).where(Chunk.document_id == doc.id)).all())


def found(svc: Services, query: str) -> list[str]:
    return [h.chunk.text for h in svc.runtimes.knowledge("shop").search(query, 3).hits]


def test_the_worker_moves_a_document_from_queued_to_ready_and_deletes_the_stored_file(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)
    received = upload(tmp_path, "hours.md", b"# Hours\n\nThe shop opens at nine.")

    result = queue.accept("shop", received)

    assert (result.status, result.slug, result.ok) == ("queued", "hours", True)
    stored = stored_file(svc.settings, row(svc, "hours"))
    assert stored.is_file() and not received.path.exists()
    assert row(svc, "hours").status == "queued"
    queue.start()
    try:
        assert queue.wait([result.document_id], timeout=30)
    finally:
        queue.stop()
    done = row(svc, "hours")
    assert (done.status, done.progress, done.error) == ("ready", 100, None)
    assert not stored.exists()
    assert any("opens at nine" in t for t in found(svc, "when does the shop open"))


def test_same_content_again_is_unchanged_and_not_queued(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)
    data = b"# Hours\n\nThe shop opens at nine."
    first = queue.accept("shop", upload(tmp_path, "hours.md", data))
    process_queued(svc.runtimes, first.document_id)

    again = queue.accept("shop", upload(tmp_path, "hours.md", data))

    assert again.unchanged and again.status == "ready"
    assert not any(p.is_file() for p in (svc.settings.data_dir / "uploads").rglob("*"))


def test_progress_is_saved_while_pages_are_read(svc, tmp_path) -> None:
    pages = [f"Page {n} explains the gizmo setting number {n}." for n in range(1, 41)]
    path = tmp_path / "gizmo-manual.pdf"
    path.write_bytes(pdf_with_text(pages))
    seen: list[int] = []
    saved: list[int] = []
    original = svc.runtimes.knowledge("shop").chunk_parts

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]  # read the row between pages
        for record in original(*args, **kwargs):
            saved.append(row(svc, "gizmo-manual").progress)
            yield record

    svc.runtimes.knowledge("shop").chunk_parts = spy  # type: ignore[method-assign]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("server.ingest.PROGRESS_SAVE_S", 0.0)  # save every change
        result = ingest_file(svc.runtimes, "shop", path, on_progress=seen.append)

    assert result.ok and result.chunks == 40
    assert seen == sorted(seen) and seen[-1] == 100 and len(set(seen)) > 20
    assert max(saved) >= 80 and saved == sorted(saved) and row(svc, "gizmo-manual").progress == 100


def test_a_batch_with_corrupt_and_unsupported_files_keeps_the_good_one(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)
    files = [
        upload(tmp_path, "broken.pdf", b"%PDF-1.4 \x00 definitely not a pdf"),
        upload(tmp_path, "menu.docx", b"PK\x03\x04 not a zip"),
        upload(tmp_path, "faq.xlsx", b"not a workbook"),
        upload(tmp_path, "slides.pptx", b"PK.."),
        upload(tmp_path, "faq.csv", csv_file(["question", "answer"], [["Do you deliver?", "Yes, daily."]])),
    ]

    results = [queue.accept("shop", f) for f in files]
    queue.start()
    try:
        assert queue.wait([r.document_id for r in results], timeout=30)
    finally:
        queue.stop()

    docs = {slug: row(svc, slug) for slug in ("broken", "menu", "faq", "slides")}
    assert docs["broken"].status == "failed" and "broken.pdf: not a readable PDF" in docs["broken"].error
    assert docs["menu"].status == "failed" and "menu.docx: not a readable DOCX" in docs["menu"].error
    assert docs["slides"].status == "failed" and "unsupported file type .pptx" in docs["slides"].error
    # faq.xlsx and faq.csv target the same document: the later upload replaced the earlier
    assert docs["faq"].status == "ready" and docs["faq"].source == "faq.csv"
    assert chunk_texts(svc, "faq") and any("daily" in t for t in found(svc, "do you deliver"))
    assert not any(p.is_file() for p in (svc.settings.data_dir / "uploads").rglob("*"))


def test_restart_requeues_documents_whose_file_is_kept_and_fails_the_others(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)  # not started: like a process stopped before its worker ran
    kept = queue.accept("shop", upload(tmp_path, "returns.md", b"# Returns\n\nReturns are free for 30 days."))
    lost = queue.accept("shop", upload(tmp_path, "warranty.md", b"# Warranty\n\nTwo years on everything."))
    stored_file(svc.settings, row(svc, "warranty")).unlink()
    with Session(svc.engine) as session:  # a crash mid-ingestion leaves 'processing'
        doc = session.get(Document, kept.document_id)
        doc.status, doc.progress = "processing", 40
        session.add(doc)
        session.commit()
    orphan = svc.settings.data_dir / "uploads" / "d_gone" / "abc.md"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("left behind")

    assert recover(svc.runtimes) == [kept.document_id]

    assert (row(svc, "returns").status, row(svc, "returns").progress) == ("queued", 0)
    failed = row(svc, "warranty")
    assert failed.status == "failed" and failed.error is not None
    assert "interrupted by a restart" in failed.error and "upload it again" in failed.error
    assert not orphan.parent.exists()
    restarted = IngestQueue(svc.runtimes)
    restarted.start()
    try:
        assert restarted.wait([kept.document_id, lost.document_id], timeout=30)
    finally:
        restarted.stop()
    assert row(svc, "returns").status == "ready"
    assert any("free for 30 days" in t for t in found(svc, "are returns free"))


def test_search_keeps_the_old_chunks_while_a_new_version_is_queued(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)
    v1 = queue.accept("shop", upload(tmp_path, "shipping.md", b"# Shipping\n\nParcels travel by zeppelin."))
    process_queued(svc.runtimes, v1.document_id)

    v2 = queue.accept("shop", upload(tmp_path, "shipping.md", b"# Shipping\n\nParcels travel by hovercraft."))

    assert v2.status == "queued" and row(svc, "shipping").status == "queued"
    assert any("zeppelin" in t for t in found(svc, "how do parcels travel"))
    assert any("zeppelin" in t for t in chunk_texts(svc, "shipping"))
    process_queued(svc.runtimes, v2.document_id)
    texts = found(svc, "how do parcels travel")
    assert any("hovercraft" in t for t in texts) and not any("zeppelin" in t for t in texts)


def test_a_version_replaced_while_it_is_read_is_dropped(svc, tmp_path) -> None:
    queue = IngestQueue(svc.runtimes)
    v1 = queue.accept("shop", upload(tmp_path, "notes.txt", b"Version one mentions aardvarks."))
    reading = threading.Event()
    proceed = threading.Event()
    original = svc.runtimes.knowledge("shop").chunk_parts

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        reading.set()
        proceed.wait(10)
        yield from original(*args, **kwargs)

    svc.runtimes.knowledge("shop").chunk_parts = slow  # type: ignore[method-assign]
    outcome: list[IngestResult | None] = []
    worker = threading.Thread(target=lambda: outcome.append(process_queued(svc.runtimes, v1.document_id)))
    worker.start()
    assert reading.wait(10)
    v2 = queue.accept("shop", upload(tmp_path, "notes.txt", b"Version two mentions badgers."))
    proceed.set()
    worker.join(10)

    assert outcome[0] is not None and outcome[0].status == "superseded"
    assert row(svc, "notes").status == "queued"  # v2 waits; v1 never reached the index
    assert not any("aardvarks" in t for t in found(svc, "aardvarks"))
    svc.runtimes.knowledge("shop").chunk_parts = original  # type: ignore[method-assign]
    process_queued(svc.runtimes, v2.document_id)
    assert row(svc, "notes").status == "ready" and any("badgers" in t for t in found(svc, "badgers"))


def test_cli_style_ingest_redoes_a_row_a_killed_run_left_processing(svc, tmp_path) -> None:
    path = tmp_path / "hours.md"
    path.write_bytes(b"# Hours\n\nOpen at nine.")
    from server.ingest import file_sha256

    prepare(svc.runtimes, "shop", "hours.md", file_sha256(path), path.stat().st_size, "processing")

    result = ingest_file(svc.runtimes, "shop", path)

    assert result.ok and result.status == "ready" and result.chunks == 1
