"""Public pages: the chat demo page and the knowledge-base articles that citations link to."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from knowledge.chunking import slugify, split_sections
from server import store
from server.api.deps import SessionDep
from server.errors import NotFound
from server.tables import Bot, Document
from web import STATIC_DIR

router = APIRouter(include_in_schema=False)


DEMO_KEY = "__FRONTDESK_DEMO_KEY__"  # in index.html: replaced by the demo bot's public widget key


@router.get("/", response_class=HTMLResponse)
def demo_page(session: SessionDep) -> HTMLResponse:
    """The demo shop page, embedding the widget of the demo bot (else the oldest bot) as a site would."""
    bot = session.exec(select(Bot).where(Bot.slug == "demo")).first() or session.exec(
        select(Bot).order_by(col(Bot.created_at))
    ).first()
    if bot is None:
        raise NotFound("no bot yet: create one with `frontdesk bots create`", code="unknown_bot")
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace(DEMO_KEY, html.escape(bot.public_key)))


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
