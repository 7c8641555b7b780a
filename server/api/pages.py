"""Public pages: the chat demo page and the knowledge-base articles that citations link to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlmodel import select

from knowledge.chunking import slugify, split_sections
from server import store
from server.api.deps import SessionDep
from server.errors import NotFound
from server.tables import Document
from web import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/")
def demo_page() -> FileResponse:
    """The demo page with the chat widget."""
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/kb/{bot_slug}/{doc_slug}", response_class=HTMLResponse)
def article(bot_slug: str, doc_slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    """A knowledge-base document, one anchored block per section, for citation links."""
    bot = store.get_bot(session, bot_slug)
    document = session.exec(select(Document).where(Document.bot_id == bot.id, Document.slug == doc_slug)).first()
    if document is None:
        raise NotFound(f"no document {doc_slug!r}")
    sections = [
        {
            "anchor": slugify(sec.path[-1]) if sec.path else "",
            "heading": sec.path[-1] if sec.path else "",
            "text": sec.text,
        }
        for sec in split_sections(document.text, document.title)
    ]
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "article.html", {"bot": bot, "document": document, "sections": sections})
