"""Adding documents to a bot's knowledge: the database rows and the vector index together."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, delete, select

from knowledge.chunking import slugify
from knowledge.errors import KnowledgeError
from knowledge.loaders import LOADERS, load_bytes
from server.runtimes import RuntimeRegistry
from server.store import get_bot
from server.tables import Chunk, Document, utcnow

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What happened to one file."""

    source: str
    ok: bool
    document_id: str | None = None
    chunks: int = 0
    error: str | None = None
    unchanged: bool = False


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files given directly, plus supported files found under given folders (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in LOADERS)
        else:
            files.append(path)
    return files


def ingest_bytes(registry: RuntimeRegistry, slug: str, data: bytes, name: str) -> IngestResult:
    """Load, chunk, embed and index one document; a failure is reported, never raised."""
    try:
        document = load_bytes(data, name)
    except KnowledgeError as exc:
        return IngestResult(name, False, error=str(exc))
    digest = hashlib.sha256(data).hexdigest()
    doc_slug = slugify(Path(name).stem)
    kb = registry.knowledge(slug)
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        row = session.exec(select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)).first()
        if row is not None and row.sha256 == digest and row.status == "ready":
            return IngestResult(name, True, row.id, 0, unchanged=True)
        if row is None:
            row = Document(bot_id=bot.id, slug=doc_slug, title="", source="", media_type="", url="", sha256="")
        row.title, row.source, row.media_type = document.title, name, document.media_type
        row.url, row.sha256, row.updated_at = f"/kb/{slug}/{doc_slug}", digest, utcnow()
        row.text = document.text
        records = kb.chunk(row.id, document.title, document.text, row.url)
        kb.upsert(row.id, records)
        row.status, row.error = "ready", None
        session.add(row)
        session.exec(delete(Chunk).where(Chunk.document_id == row.id))  # type: ignore[call-overload]
        session.add_all(
            Chunk(
                id=r.id, document_id=row.id, bot_id=bot.id, position=i,
                text=r.text, section=r.section, anchor=r.anchor, url=r.url,
            )
            for i, r in enumerate(records)
        )
        session.commit()
        return IngestResult(name, True, row.id, len(records))


def ingest_paths(
    registry: RuntimeRegistry, slug: str, paths: list[Path], progress: Callable[[IngestResult], None] | None = None
) -> list[IngestResult]:
    """Ingest files and folders; one bad file never stops the batch."""
    results = []
    for path in expand_paths(paths):
        try:
            result = ingest_bytes(registry, slug, path.read_bytes(), path.name)
        except OSError as exc:
            result = IngestResult(str(path), False, error=f"{path}: {exc.strerror or exc}")
        results.append(result)
        if progress:
            progress(result)
    return results


def delete_document(registry: RuntimeRegistry, slug: str, doc_slug: str) -> bool:
    """Remove a document from the database and the index."""
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        row = session.exec(select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)).first()
        if row is None:
            return False
        registry.knowledge(slug).remove(row.id)
        session.exec(delete(Chunk).where(Chunk.document_id == row.id))  # type: ignore[call-overload]
        session.delete(row)
        session.commit()
        return True
