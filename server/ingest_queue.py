"""Background ingestion: uploads are stored and queued; one worker thread per process ingests them.

One thread means a bot's documents are ingested one at a time, so its index is written by one
writer. The queue itself is the database (rows with status 'queued' and their stored files):
on startup, rows left queued or processing by a stopped process are queued again if their
file is still there. One server process per data folder runs ingestion.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from sqlmodel import Session, col, select

from server.ingest import PENDING, IngestResult, fail, prepare, run_ingest, set_state, stored_file, upload_root
from server.runtimes import RuntimeRegistry
from server.tables import Bot, Document
from server.uploads import UploadedFile

log = logging.getLogger(__name__)
INCOMING = ".incoming"  # uploads being received (temporary folders)
STALE_INCOMING_S = 24 * 3600
INTERRUPTED = "interrupted by a restart before it was ingested; upload it again"


def incoming_folder(registry: RuntimeRegistry) -> Path:
    """Where request bodies are received, on the same disk as the stored uploads."""
    return upload_root(registry.settings) / INCOMING


def process_queued(registry: RuntimeRegistry, document_id: str) -> IngestResult | None:
    """Ingest one queued document from its stored file, then delete the file.

    Returns:
        The result, or None when the row is gone or no longer queued (already done elsewhere).
    """
    with Session(registry.engine) as session:
        row = session.get(Document, document_id)
        bot = session.get(Bot, row.bot_id) if row is not None else None
        if row is None or bot is None or row.status != "queued":
            return None
        digest, path, slug = row.sha256, stored_file(registry.settings, row), bot.slug
        ready = IngestResult(row.source, True, row.id, slug=row.slug, status="processing")
    if not set_state(registry, document_id, digest, only_if="queued", status="processing", progress=0):
        return None
    try:
        if not path.is_file():
            return fail(registry, ready, digest, f"{ready.source}: {INTERRUPTED}")
        return run_ingest(registry, slug, ready, path, digest)
    except Exception as exc:  # an embedding backend or a bug: the row must not stay 'processing'
        log.exception("ingesting %s of bot %s failed", ready.source, slug)
        reason = f"{ready.source}: ingestion failed ({type(exc).__name__}); see the server log"
        return fail(registry, ready, digest, reason)
    finally:
        path.unlink(missing_ok=True)


def recover(registry: RuntimeRegistry) -> list[str]:
    """Queue again what a stopped process left queued or processing; fail what lost its file.

    Also deletes stored files no pending row needs, and temporary upload folders over a day old.

    Returns:
        The ids of the documents queued again, oldest first.
    """
    requeued: list[str] = []
    keep: set[Path] = set()
    with Session(registry.engine) as session:
        rows = session.exec(
            select(Document).where(col(Document.status).in_(PENDING)).order_by(col(Document.updated_at))
        ).all()
    for row in rows:
        path = stored_file(registry.settings, row)
        if path.is_file():
            set_state(registry, row.id, row.sha256, status="queued", progress=0)
            requeued.append(row.id)
            keep.add(path)
        else:
            fail(registry, IngestResult(row.source, False, row.id, slug=row.slug), row.sha256,
                 f"{row.source}: {INTERRUPTED}")
    _clean_uploads(registry, keep)
    return requeued


def _clean_uploads(registry: RuntimeRegistry, keep: set[Path]) -> None:
    root = upload_root(registry.settings)
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name == INCOMING:
            for entry in folder.iterdir():
                if time.time() - entry.stat().st_mtime > STALE_INCOMING_S:
                    shutil.rmtree(entry, ignore_errors=True)
        elif folder.is_dir():
            for entry in folder.iterdir():
                if entry not in keep:
                    entry.unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()


class IngestQueue:
    """Queues uploaded files and ingests them on one background thread, one at a time."""

    def __init__(self, registry: RuntimeRegistry) -> None:
        self.registry = registry
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Recover what a stopped process left behind, then start the worker."""
        for document_id in recover(self.registry):
            self._jobs.put(document_id)
        self._thread = threading.Thread(target=self._work, name="frontdesk-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current document; what is still queued is picked up at the next start."""
        if self._thread is None:
            return
        while True:  # drop queued jobs: their rows stay 'queued' and are recovered at the next start
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        self._thread.join(timeout)
        self._thread = None

    def accept(self, slug: str, upload: UploadedFile) -> IngestResult:
        """Store an uploaded file and queue its document (or fail it at once, e.g. unsupported type).

        Args:
            slug: the bot.
            upload: the received file; it is moved into the upload store when queued.
        """
        result = prepare(self.registry, slug, upload.name, upload.sha256, upload.size, "queued", upload.refused)
        if result.status != "queued" or result.document_id is None:
            return result
        with Session(self.registry.engine) as session:
            row = session.get(Document, result.document_id)
            assert row is not None
            target = stored_file(self.registry.settings, row)
        target.parent.mkdir(parents=True, exist_ok=True)
        for older in target.parent.iterdir():  # a version queued earlier and now replaced
            if older != target:
                older.unlink(missing_ok=True)
        os.replace(upload.path, target)
        self._jobs.put(result.document_id)
        return result

    def wait(self, document_ids: Iterable[str], timeout: float) -> bool:
        """Block until none of these documents is queued or processing; False on timeout."""
        ids = list(document_ids)
        deadline = time.monotonic() + timeout
        while True:
            with Session(self.registry.engine) as session:
                pending = session.exec(
                    select(Document.id).where(col(Document.id).in_(ids), col(Document.status).in_(PENDING))
                ).first()
            left = deadline - time.monotonic()
            if pending is None:
                return True
            if left <= 0:
                return False
            with self._done:
                self._done.wait(min(left, 0.5))

    def _work(self) -> None:
        while (document_id := self._jobs.get()) is not None:
            try:
                result = process_queued(self.registry, document_id)
                if result is not None:
                    log.info("ingested %s: %s", result.source, result.status if result.ok else result.error)
            except Exception:  # the database itself failed: keep the worker alive for the next job
                log.exception("ingestion job %s failed", document_id)
            with self._done:
                self._done.notify_all()
