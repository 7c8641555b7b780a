"""Adding documents to a bot's knowledge: the database rows and the vector index together.

A document goes queued -> processing -> ready | failed. An upload stores the file and queues
it (server.ingest_queue ingests it in the background); `frontdesk kb ingest` runs the same
steps at once. A document's chunks are those of its last successful ingestion: while a new
version is queued or processing, and after one fails, search keeps using the old chunks.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import func, update
from sqlmodel import Session, delete, select

from knowledge.chunking import slugify
from knowledge.errors import KnowledgeError
from knowledge.loaders import LOADERS, LoadedDocument, Part, load_path, title_from_name, unsupported_reason
from server.runtimes import RuntimeRegistry
from server.settings import Settings
from server.store import get_bot
from server.tables import Chunk, Document, utcnow

log = logging.getLogger(__name__)
PENDING = ("queued", "processing")
READ_SHARE = 90  # percent of the progress bar for reading and chunking; the rest is embedding
PROGRESS_SAVE_S = 0.5  # least seconds between progress writes to a document row
ProgressFn = Callable[[int], None]


@dataclass
class IngestResult:
    """What happened to one file."""

    source: str
    ok: bool
    document_id: str | None = None
    chunks: int = 0
    error: str | None = None
    unchanged: bool = False
    slug: str | None = None
    status: str = "ready"  # queued | processing | ready | failed


def document_slug(name: str) -> str:
    """The slug of the document a file name adds or replaces ('Returns FAQ.pdf' -> 'returns-faq')."""
    return slugify(Path(name).stem)


def upload_root(settings: Settings) -> Path:
    """Where uploaded files wait for ingestion."""
    return settings.data_dir / "uploads"


def stored_file(settings: Settings, document: Document) -> Path:
    """The stored upload a queued document will be ingested from."""
    return upload_root(settings) / document.id / f"{document.sha256}{Path(document.source).suffix.lower()}"


_LOCKS: WeakKeyDictionary[RuntimeRegistry, dict[str, threading.Lock]] = WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def bot_lock(registry: RuntimeRegistry, slug: str) -> threading.Lock:
    """The lock held while a bot's index and chunk rows change (ingest commit, delete)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(registry, {}).setdefault(slug, threading.Lock())


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files given directly, plus supported files found under given folders (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*"))
            files.extend(p for p in found if p.is_file() and p.suffix.lower() in LOADERS)
        else:
            files.append(path)
    return files


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def prepare(
    registry: RuntimeRegistry, slug: str, name: str, digest: str, size: int, status: str, refusal: str | None = None
) -> IngestResult:
    """Create or update the document row a file targets, before it is read.

    Args:
        registry: the bots' runtimes.
        slug: the bot.
        name: the file name (its stem gives the document slug, its suffix the loader).
        digest: the file's SHA-256 (same as the ready row's: nothing to do).
        size: the file's size in bytes (0: refused as empty).
        status: the row's new status when the file is to be ingested ('queued' or 'processing').
        refusal: why the file is refused before reading (e.g. too large); the row is then failed.

    Returns:
        The result: `status` is the given one when the file is to be ingested, else
        'ready' (unchanged), the status of an identical pending upload, or 'failed'.
    """
    doc_slug = document_slug(name)
    reason = refusal or unsupported_reason(name) or (f"{name}: the file is empty" if size == 0 else None)
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        row = session.exec(select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)).first()
        same = reason is None and row is not None and row.sha256 == digest
        # an identical upload already waiting is not queued twice; the CLI redoes a row a killed run left
        if row is not None and same and (row.status == "ready" or (status == "queued" and row.status in PENDING)):
            unchanged = row.status == "ready"
            return IngestResult(name, True, row.id, 0, None, unchanged, doc_slug, row.status)
        if row is None:
            row = Document(
                bot_id=bot.id, slug=doc_slug, title=title_from_name(name), source=name, media_type="",
                url=f"/kb/{slug}/{doc_slug}", sha256=digest,
            )
        row.source, row.sha256, row.progress = name, digest, 0
        if reason is not None:
            row.status, row.error, row.updated_at = "failed", _keeping_old(session, row, reason), utcnow()
        else:
            row.status, row.error = status, None
        session.add(row)
        session.commit()
        return IngestResult(name, reason is None, row.id, 0, row.error, False, doc_slug, row.status)


def _keeping_old(session: Session, row: Document, reason: str) -> str:
    """The error, saying so when an earlier version of the document is still searchable."""
    if row.id is None:
        return reason
    chunks = session.exec(select(func.count()).where(Chunk.document_id == row.id)).one()
    return f"{reason} (the previous version, {chunks} chunks, is still searchable)" if chunks else reason


def set_state(registry: RuntimeRegistry, document_id: str, digest: str, only_if: str | None = None, **fields) -> bool:  # type: ignore[no-untyped-def]
    """Update a document row if it still holds this upload (and, optionally, this status).

    Returns:
        Whether the row was updated: False when it was deleted or a newer upload replaced it.
    """
    statement = update(Document).where(Document.id == document_id, Document.sha256 == digest)  # type: ignore[arg-type]
    if only_if is not None:
        statement = statement.where(Document.status == only_if)  # type: ignore[arg-type]
    with Session(registry.engine) as session:
        changed = session.exec(statement.values(**fields)).rowcount  # type: ignore[call-overload]
        session.commit()
    return bool(changed)


class _Progress:
    """Reports the fraction of the file read as a percent: to a callback, and (throttled) to the row."""

    def __init__(self, registry: RuntimeRegistry, document_id: str, digest: str, callback: ProgressFn | None) -> None:
        self.registry, self.document_id, self.digest, self.callback = registry, document_id, digest, callback
        self.percent, self.saved, self.saved_at = 0, 0, 0.0

    def __call__(self, percent: int) -> None:
        if percent <= self.percent:
            return
        self.percent = percent
        if self.callback:
            self.callback(percent)
        now = time.monotonic()
        if now - self.saved_at >= PROGRESS_SAVE_S or percent >= READ_SHARE:
            set_state(self.registry, self.document_id, self.digest, progress=percent)
            self.saved, self.saved_at = percent, now


def _collect(document: LoadedDocument, texts: list[str], progress: _Progress) -> Iterator[Part]:
    """Pass the parts through, keeping their text for the article page and reporting progress."""
    for part in document.iter_parts():
        texts.append(part.text)
        if part.done is not None:
            progress(int(READ_SHARE * part.done))
        yield part


def run_ingest(
    registry: RuntimeRegistry,
    slug: str,
    ready: IngestResult,
    path: Path,
    digest: str,
    on_progress: ProgressFn | None = None,
) -> IngestResult:
    """Load, chunk, embed and index a prepared document from a file; failures are reported, not raised.

    Args:
        registry: the bots' runtimes.
        slug: the bot.
        ready: what `prepare` returned for the file (its document id, slug and name).
        path: the file to read (streamed: PDF pages and table rows one at a time).
        digest: the file's SHA-256; if the row no longer holds it (deleted, or replaced by a
            newer upload), the work is dropped.
        on_progress: called with the percent done as it grows.
    """
    name, document_id = ready.source, ready.document_id
    assert document_id is not None and ready.slug is not None
    url = f"/kb/{slug}/{ready.slug}"
    kb = registry.knowledge(slug)
    progress = _Progress(registry, document_id, digest, on_progress)
    try:
        document = load_path(path, name)
        texts: list[str] = []
        records = list(kb.chunk_parts(document_id, document.title, _collect(document, texts, progress), url))
    except KnowledgeError as exc:
        return fail(registry, ready, digest, str(exc))
    except OSError as exc:
        return fail(registry, ready, digest, f"{name}: could not read the file ({exc.strerror or exc})")
    progress(READ_SHARE)
    with bot_lock(registry, slug), Session(registry.engine, expire_on_commit=False) as session:
        row = session.get(Document, document_id)
        if row is None or row.sha256 != digest:
            return IngestResult(name, False, document_id, error=f"{name}: replaced or deleted while it was read",
                                slug=ready.slug, status="superseded")
        try:
            kb.upsert(row.id, records)
        except (OSError, RuntimeError) as exc:  # faiss reports a failed write as RuntimeError
            log.exception("saving the index of %s failed", slug)
            session.rollback()
            return fail(registry, ready, digest, f"{name}: could not save the index: {storage_error(exc)}")
        row.title, row.media_type, row.url, row.updated_at = document.title, document.media_type, url, utcnow()
        row.text = "\n\n".join(texts)
        row.status, row.error, row.progress = "ready", None, 100
        session.add(row)
        session.exec(delete(Chunk).where(Chunk.document_id == row.id))  # type: ignore[call-overload]
        session.add_all(
            Chunk(
                id=r.id, document_id=row.id, bot_id=row.bot_id, position=i,
                text=r.text, section=r.section, anchor=r.anchor, url=r.url,
            )
            for i, r in enumerate(records)
        )
        session.commit()
    if on_progress:
        on_progress(100)
    return IngestResult(name, True, document_id, len(records), slug=ready.slug, status="ready")


def storage_error(exc: BaseException) -> str:
    """A short reason for a failed write: 'disk full (no space left on device)' for ENOSPC."""
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc):
        return "disk full (no space left on device)"
    return getattr(exc, "strerror", None) or str(exc)[:200]


def fail(registry: RuntimeRegistry, ready: IngestResult, digest: str, reason: str) -> IngestResult:
    """Mark a prepared document failed (its earlier chunks, if any, stay searchable)."""
    assert ready.document_id is not None
    with Session(registry.engine) as session:
        row = session.get(Document, ready.document_id)
        error = _keeping_old(session, row, reason) if row is not None else reason
    set_state(registry, ready.document_id, digest, status="failed", error=error, progress=0, updated_at=utcnow())
    return IngestResult(ready.source, False, ready.document_id, error=error, slug=ready.slug, status="failed")


def ingest_file(
    registry: RuntimeRegistry, slug: str, path: Path, name: str | None = None, on_progress: ProgressFn | None = None
) -> IngestResult:
    """Ingest one file from disk now, without reading it whole into memory (PDF pages, table rows).

    Args:
        registry: the bots' runtimes.
        slug: the bot.
        path: the file.
        name: the name to store and pick the loader by (default: the path's name).
        on_progress: called with the percent done as it grows.
    """
    name = name or path.name
    try:
        digest, size = file_sha256(path), path.stat().st_size
    except OSError as exc:
        return IngestResult(name, False, error=f"{path}: {exc.strerror or exc}", status="failed")
    ready = prepare(registry, slug, name, digest, size, "processing")
    if ready.status != "processing":
        return ready
    return run_ingest(registry, slug, ready, path, digest, on_progress)


def ingest_paths(
    registry: RuntimeRegistry,
    slug: str,
    paths: list[Path],
    progress: Callable[[IngestResult], None] | None = None,
    on_file_progress: Callable[[Path, int], None] | None = None,
) -> list[IngestResult]:
    """Ingest files and folders; one bad file never stops the batch.

    Args:
        registry: the bots' runtimes.
        slug: the bot.
        paths: files and folders (folders: every supported file under them).
        progress: called with each file's result.
        on_file_progress: called with a file and the percent of it done, as it grows.
    """
    results = []
    for path in expand_paths(paths):
        step = (lambda percent, path=path: on_file_progress(path, percent)) if on_file_progress else None
        result = ingest_file(registry, slug, path, on_progress=step)
        results.append(result)
        if progress:
            progress(result)
    return results


def delete_document(registry: RuntimeRegistry, slug: str, doc_slug: str) -> bool:
    """Remove a document from the database, the index and the upload queue."""
    with bot_lock(registry, slug), Session(registry.engine) as session:
        bot = get_bot(session, slug)
        row = session.exec(select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)).first()
        if row is None:
            return False
        registry.knowledge(slug).remove(row.id)
        session.exec(delete(Chunk).where(Chunk.document_id == row.id))  # type: ignore[call-overload]
        session.delete(row)
        session.commit()
        shutil.rmtree(upload_root(registry.settings) / row.id, ignore_errors=True)
        return True
