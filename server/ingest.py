"""Adding documents to a bot's knowledge: the database rows and the vector index together."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, delete, select

from knowledge.chunking import slugify
from knowledge.errors import KnowledgeError
from knowledge.loaders import LOADERS, LoadedDocument, Part, load_bytes, load_path
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


def ingest_bytes(registry: RuntimeRegistry, slug: str, data: bytes, name: str) -> IngestResult:
    """Load, chunk, embed and index one document from memory; failures are reported, not raised."""
    digest = hashlib.sha256(data).hexdigest()
    return _ingest(registry, slug, name, digest, lambda: load_bytes(data, name))


def ingest_file(
    registry: RuntimeRegistry, slug: str, path: Path, name: str | None = None
) -> IngestResult:
    """Ingest one file from disk without reading it whole into memory (PDF pages, table rows).

    Args:
        registry: the bots' runtimes.
        slug: the bot.
        path: the file (e.g. an upload's temporary file).
        name: the name to store and pick the loader by (default: the path's name).
    """
    name = name or path.name
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return IngestResult(str(path), False, error=f"{path}: {exc.strerror or exc}")
    return _ingest(registry, slug, name, digest, lambda: load_path(path, name))


def _ingest(
    registry: RuntimeRegistry, slug: str, name: str, digest: str, load: Callable[[], LoadedDocument]
) -> IngestResult:
    if Path(name).suffix.lower() not in LOADERS:
        return _failed(name, load)
    doc_slug = slugify(Path(name).stem)
    kb = registry.knowledge(slug)
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        row = session.exec(
            select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)
        ).first()
        if row is not None and row.sha256 == digest and row.status == "ready":
            return IngestResult(name, True, row.id, 0, unchanged=True)
        if row is None:
            row = Document(
                bot_id=bot.id, slug=doc_slug, title="", source="", media_type="", url="", sha256=""
            )
        url = f"/kb/{slug}/{doc_slug}"
        try:
            document = load()
            texts: list[str] = []
            records = list(kb.chunk_parts(row.id, document.title, _collect(document, texts), url))
        except KnowledgeError as exc:
            return IngestResult(name, False, error=str(exc))
        row.title, row.source, row.media_type = document.title, name, document.media_type
        row.url, row.sha256, row.updated_at = url, digest, utcnow()
        row.text = "\n\n".join(texts)
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


def _failed(name: str, load: Callable[[], LoadedDocument]) -> IngestResult:
    """The loader's own error for a file it cannot take (e.g. an unsupported type)."""
    try:
        load()
    except KnowledgeError as exc:
        return IngestResult(name, False, error=str(exc))
    return IngestResult(name, False, error=f"{name}: unsupported file type")


def _collect(document: LoadedDocument, texts: list[str]) -> Iterator[Part]:
    """Pass the parts through, keeping their text for the document's article page."""
    for part in document.iter_parts():
        texts.append(part.text)
        yield part


def ingest_paths(
    registry: RuntimeRegistry,
    slug: str,
    paths: list[Path],
    progress: Callable[[IngestResult], None] | None = None,
) -> list[IngestResult]:
    """Ingest files and folders; one bad file never stops the batch."""
    results = []
    for path in expand_paths(paths):
        result = ingest_file(registry, slug, path)
        results.append(result)
        if progress:
            progress(result)
    return results


def delete_document(registry: RuntimeRegistry, slug: str, doc_slug: str) -> bool:
    """Remove a document from the database and the index."""
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        row = session.exec(
            select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)
        ).first()
        if row is None:
            return False
        registry.knowledge(slug).remove(row.id)
        session.exec(delete(Chunk).where(Chunk.document_id == row.id))  # type: ignore[call-overload]
        session.delete(row)
        session.commit()
        return True
