"""Knowledge documents of a bot: upload (multipart), list, delete. Console sign-in required.

API keys come later; until then these routes take the console's HTTP Basic sign-in and only
touch bots of the signed-in user's tenant.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from admin.auth import CurrentUser
from knowledge.chunking import slugify
from server import store
from server.api.deps import ServicesDep, SessionDep
from server.errors import NotFound
from server.ingest import IngestResult, delete_document, ingest_file
from server.tables import Bot, Chunk, Document, User
from server.uploads import receive_files

router = APIRouter(prefix="/api/v1", tags=["documents"])


class DocumentPublic(BaseModel):
    """A knowledge document as clients see it."""

    slug: str
    title: str
    source: str
    media_type: str
    url: str
    status: str
    error: str | None
    chunks: int
    updated_at: datetime


class UploadResult(BaseModel):
    """What happened to one uploaded file."""

    file: str
    ok: bool
    slug: str | None = None
    chunks: int = 0
    unchanged: bool = False
    error: str | None = None

    @classmethod
    def of(cls, name: str, result: IngestResult) -> UploadResult:
        """From an ingest result."""
        return cls(
            file=name, ok=result.ok, slug=slugify(Path(name).stem) if result.ok else None,
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


async def upload_files(
    request: Request, services: ServicesDep, bot_slug: str
) -> list[UploadResult]:
    """Stream the request's files to disk and ingest each; one bad file never fails the rest."""
    settings = request.app.state.settings
    folder, files = await receive_files(
        request.headers.get("content-type", ""),
        request.stream(),
        int(settings.max_upload_mb * 2**20),
        settings.max_upload_files,
    )
    try:
        results = []
        for upload in files:
            result = await run_in_threadpool(
                ingest_file, services.runtimes, bot_slug, upload.path, upload.name
            )
            results.append(UploadResult.of(upload.name, result))
        return results
    finally:
        folder.cleanup()


@router.post("/bots/{bot_slug}/documents")
async def upload_documents(
    bot_slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> UploadOut:
    """Add or replace documents (multipart field 'files'); returns a result per file."""
    owned_bot(session, user, bot_slug)
    return UploadOut(results=await upload_files(request, services, bot_slug))


@router.get("/bots/{bot_slug}/documents")
def list_documents(bot_slug: str, user: CurrentUser, session: SessionDep) -> list[DocumentPublic]:
    """The bot's documents with their status and chunk counts."""
    bot = owned_bot(session, user, bot_slug)
    per_document = (
        select(Chunk.document_id, func.count())
        .where(Chunk.bot_id == bot.id)
        .group_by(Chunk.document_id)
    )
    counts = dict(session.exec(per_document).all())  # type: ignore[call-overload]
    rows = session.exec(
        select(Document).where(Document.bot_id == bot.id).order_by(Document.slug)
    ).all()
    return [
        DocumentPublic(
            slug=d.slug, title=d.title, source=d.source, media_type=d.media_type, url=d.url,
            status=d.status, error=d.error, chunks=counts.get(d.id, 0), updated_at=d.updated_at,
        )
        for d in rows
    ]


@router.delete("/bots/{bot_slug}/documents/{doc_slug}", status_code=204)
async def remove_document(
    bot_slug: str, doc_slug: str, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Remove a document from the database and the bot's index."""
    owned_bot(session, user, bot_slug)
    if not await run_in_threadpool(delete_document, services.runtimes, bot_slug, doc_slug):
        raise NotFound(f"no document {doc_slug!r} in bot {bot_slug!r}", code="unknown_document")
    return Response(status_code=204)
