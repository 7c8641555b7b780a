"""Knowledge documents of a bot: upload (multipart), list, show, delete. Console sign-in required.

Uploads are ingested in the background (server.ingest_queue): POST answers 202 at once with
each file's document and status, and GET shows status and progress until it is ready or
failed. `?wait=true` answers when every file is done, for scripts.

A console session (with its CSRF token for uploads and deletions) or an API key is required
(admin/auth.py); only bots of the caller's tenant exist for them, and viewers may only read.
Uploads and deletions are written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from admin import audit
from admin.auth import CurrentUser, require_editor
from server import store
from server.api.deps import ServicesDep, SessionDep
from server.errors import FrontdeskError, NotFound
from server.ingest import IngestResult, delete_document
from server.ingest_queue import IngestQueue, incoming_folder
from server.tables import Bot, Chunk, Document, User
from server.uploads import receive_files

router = APIRouter(prefix="/api/v1", tags=["documents"])
WAIT_SECONDS = 600.0  # the longest ?wait=true holds a request


class IngestUnavailable(FrontdeskError):
    """The app was started without its lifespan, so nothing would ingest an upload."""

    code = "ingest_unavailable"
    status = 503


def get_ingest(request: Request) -> IngestQueue:
    """The process's ingestion queue, started in the lifespan."""
    queue = getattr(request.app.state, "ingest", None)
    if queue is None:
        raise IngestUnavailable("the ingestion worker is not running")
    return queue


IngestDep = Annotated[IngestQueue, Depends(get_ingest)]


class DocumentPublic(BaseModel):
    """A knowledge document as clients see it."""

    slug: str
    title: str
    source: str
    media_type: str
    url: str
    status: str  # queued | processing | ready | failed
    progress: int  # percent of the file read and indexed while queued/processing
    error: str | None
    chunks: int  # in the index now (an earlier version's while a new one is pending or failed)
    updated_at: datetime


class UploadResult(BaseModel):
    """What happened to one uploaded file."""

    file: str
    ok: bool
    slug: str | None = None
    status: str  # queued | processing | ready | failed
    chunks: int = 0
    unchanged: bool = False
    error: str | None = None

    @classmethod
    def of(cls, result: IngestResult) -> UploadResult:
        """From an ingest result."""
        return cls(
            file=result.source, ok=result.ok, slug=result.slug, status=result.status,
            chunks=result.chunks, unchanged=result.unchanged, error=result.error,
        )


class UploadOut(BaseModel):
    """Response of POST /api/v1/bots/{bot}/documents: one result per file, in upload order."""

    results: list[UploadResult]


def owned_bot(session: Session, user: User, slug: str) -> Bot:
    """A bot of the user's tenant, or 404 (other tenants' bots do not exist for them)."""
    bot = store.get_bot(session, slug)
    if bot.tenant_id != user.tenant_id:
        raise NotFound(f"no bot named {slug!r}", code="unknown_bot")
    return bot


async def upload_files(request: Request, ingest: IngestQueue, bot_slug: str) -> list[UploadResult]:
    """Stream the request's files to disk and queue each; one bad file never fails the rest."""
    settings = request.app.state.settings
    folder, files = await receive_files(
        request.headers.get("content-type", ""),
        request.stream(),
        int(settings.max_upload_mb * 2**20),
        settings.max_upload_files,
        incoming_folder(ingest.registry),
    )
    try:
        return [UploadResult.of(await run_in_threadpool(ingest.accept, bot_slug, f)) for f in files]
    finally:
        await run_in_threadpool(folder.cleanup)


def finished(session: Session, results: list[UploadResult], bot: Bot) -> list[UploadResult]:
    """The results again, with each queued document's final status, chunks and error."""
    docs = {d.slug: d for d in document_rows(session, bot, [r.slug for r in results if r.slug])}
    counts = chunk_counts(session, bot)
    updated = []
    for r in results:
        doc = docs.get(r.slug or "")
        if r.unchanged or doc is None or r.status == "failed":
            updated.append(r)
            continue
        updated.append(r.model_copy(update={
            "ok": doc.status != "failed", "status": doc.status, "error": doc.error,
            "chunks": counts.get(doc.id, 0) if doc.status == "ready" else 0,
        }))
    return updated


def document_rows(session: Session, bot: Bot, slugs: list[str] | None = None) -> list[Document]:
    """The bot's documents (all, or those with these slugs), by slug."""
    query = select(Document).where(Document.bot_id == bot.id)
    if slugs is not None:
        query = query.where(col(Document.slug).in_(slugs))
    return list(session.exec(query.order_by(Document.slug)).all())


def chunk_counts(session: Session, bot: Bot) -> dict[str, int]:
    """Chunks in the index per document id."""
    per_document = select(Chunk.document_id, func.count()).where(Chunk.bot_id == bot.id).group_by(Chunk.document_id)
    return dict(session.exec(per_document).all())  # type: ignore[call-overload]


def public(document: Document, chunks: int) -> DocumentPublic:
    """The API view of a document row."""
    d = document
    return DocumentPublic(
        slug=d.slug, title=d.title, source=d.source, media_type=d.media_type, url=d.url, status=d.status,
        progress=d.progress, error=d.error, chunks=chunks, updated_at=d.updated_at,
    )


@router.post("/bots/{bot_slug}/documents", status_code=202)
async def upload_documents(
    bot_slug: str,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
    ingest: IngestDep,
    wait: Annotated[bool, Query(description="Answer when every file is ingested (200), not at once (202).")] = False,
) -> UploadOut:
    """Add or replace documents (multipart field 'files'); ingestion runs in the background."""
    bot = owned_bot(session, user, bot_slug)
    require_editor(user, "change knowledge")
    results = await upload_files(request, ingest, bot_slug)
    audit.record(session, user, "knowledge.upload", bot_slug, {"files": [r.file for r in results]}, request=request)
    if wait:
        ids = [r.slug for r in results if r.status in ("queued", "processing")]
        docs = document_rows(session, bot, ids) if ids else []
        if await run_in_threadpool(ingest.wait, [d.id for d in docs], WAIT_SECONDS):
            response.status_code = 200
        session.expire_all()
        results = finished(session, results, bot)
    return UploadOut(results=results)


@router.get("/bots/{bot_slug}/documents")
def list_documents(bot_slug: str, user: CurrentUser, session: SessionDep) -> list[DocumentPublic]:
    """The bot's documents with their status, progress, error and chunk counts."""
    bot = owned_bot(session, user, bot_slug)
    counts = chunk_counts(session, bot)
    return [public(d, counts.get(d.id, 0)) for d in document_rows(session, bot)]


@router.get("/bots/{bot_slug}/documents/{doc_slug}")
def get_document(bot_slug: str, doc_slug: str, user: CurrentUser, session: SessionDep) -> DocumentPublic:
    """One document with its status, progress, error and chunk count."""
    bot = owned_bot(session, user, bot_slug)
    rows = document_rows(session, bot, [doc_slug])
    if not rows:
        raise NotFound(f"no document {doc_slug!r} in bot {bot_slug!r}", code="unknown_document")
    chunks = session.exec(select(func.count()).where(Chunk.document_id == rows[0].id)).one()
    return public(rows[0], chunks)


@router.delete("/bots/{bot_slug}/documents/{doc_slug}", status_code=204)
async def remove_document(
    bot_slug: str, doc_slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Remove a document from the database, the bot's index and the upload queue."""
    owned_bot(session, user, bot_slug)
    require_editor(user, "change knowledge")
    if not await run_in_threadpool(delete_document, services.runtimes, bot_slug, doc_slug):
        raise NotFound(f"no document {doc_slug!r} in bot {bot_slug!r}", code="unknown_document")
    audit.record(session, user, "knowledge.delete", f"{bot_slug}/{doc_slug}", request=request)
    return Response(status_code=204)
