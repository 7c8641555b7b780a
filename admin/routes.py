"""Console pages; every one requires a signed-in user and shows only that user's tenant."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from admin import audit
from admin import kb_answers as answers
from admin.auth import CurrentUser, require_editor
from admin.i18n import N_, Msg, localize
from admin.prefill import MAX_PREFILL, prefill
from knowledge.loaders import LOADERS
from server import store
from server.api.deps import SessionDep
from server.api.documents import IngestDep, chunk_counts, document_rows, upload_files
from server.errors import BadRequest, FrontdeskError, NotFound
from server.intent_training import intent_names, message_labels
from server.metrics import export as metrics_export
from server.metrics import queries, report
from server.tables import Bot, Conversation, Document, Message, User

router = APIRouter(prefix="/admin", include_in_schema=False)
SEARCH_LINK_CHARS = 500  # of a question carried to the search tester (admin/search_page.py MAX_QUERY)


def render(request: Request, name: str, **context: object) -> HTMLResponse:
    """Render a console template (autoescaped); the page's URL never leaves the site as a referrer."""
    response = request.app.state.templates.TemplateResponse(request, name, context)
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def tenant_bot(session, user, slug: str) -> Bot:  # type: ignore[no-untyped-def]
    """A bot of the user's tenant, or 404 (other tenants' bots do not exist for them)."""
    bot = store.get_bot(session, slug)
    if bot.tenant_id != user.tenant_id:
        raise NotFound(Msg("no bot named %(slug)s", slug=repr(slug)), code="unknown_bot")
    return bot


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Bots of the tenant with their conversation and document counts."""
    bots = session.exec(select(Bot).where(Bot.tenant_id == user.tenant_id).order_by(Bot.slug)).all()
    rows = []
    for bot in bots:
        conversations = session.exec(select(func.count()).where(Conversation.bot_id == bot.id)).one()
        documents = session.exec(select(func.count()).where(Document.bot_id == bot.id)).one()
        rows.append({"bot": bot, "conversations": conversations, "documents": documents})
    return render(request, "home.html", user=user, rows=rows)


@router.get("/bots/{slug}/conversations", response_class=HTMLResponse)
def conversations(slug: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The bot's latest conversations."""
    bot = tenant_bot(session, user, slug)
    items = session.exec(
        select(Conversation)
        .where(Conversation.bot_id == bot.id)
        .order_by(col(Conversation.updated_at).desc())
        .limit(200)
    ).all()
    return render(request, "conversations.html", user=user, bot=bot, conversations=items)


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript(conversation_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """A full transcript with each reply's trace."""
    conversation = session.get(Conversation, conversation_id)
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    if conversation is None or bot is None or bot.tenant_id != user.tenant_id:
        raise NotFound(Msg("no such conversation"), code="unknown_conversation")
    messages = session.exec(
        select(Message).where(Message.conversation_id == conversation.id).order_by(col(Message.created_at))
    ).all()
    labels = message_labels(session, bot.id, [m.id for m in messages if m.role == "customer"])
    return render(
        request, "transcript.html", user=user, bot=bot, conversation=conversation, messages=messages,
        intent_names=intent_names(session, bot.id), labels=labels,
    )


def knowledge_page(
    request: Request, user: User, session: Session, bot: Bot, *, status: int = 200, **extra: object
) -> HTMLResponse:
    """The knowledge page: the answer and upload forms, the last upload's results, the documents and their status."""
    documents = sorted(document_rows(session, bot), key=lambda d: d.title.lower())
    extra.setdefault("question", "")
    extra.setdefault("entry", {"question": extra["question"], "answer": ""})
    response = render(
        request,
        "knowledge.html",
        user=user,
        bot=bot,
        documents=documents,
        chunks=chunk_counts(session, bot),
        pending=any(d.status in ("queued", "processing") for d in documents),
        max_upload_mb=request.app.state.settings.max_upload_mb,
        accept=",".join(sorted(LOADERS)),
        max_question=MAX_PREFILL,
        max_answer=answers.MAX_ANSWER,
        max_search=SEARCH_LINK_CHARS,
        **extra,
    )
    response.status_code = status
    return response


@router.get("/bots/{slug}/knowledge", response_class=HTMLResponse)
def knowledge(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, question: str | None = None,
    added: str | None = None,
) -> HTMLResponse:
    """The bot's documents, an upload form and a question-and-answer form (?question= prefills the question)."""
    bot = tenant_bot(session, user, slug)
    return knowledge_page(request, user, session, bot, question=prefill(question), added=prefill(added, 200))


@router.post("/bots/{slug}/knowledge", response_class=HTMLResponse)
async def upload_knowledge(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, ingest: IngestDep
) -> HTMLResponse:
    """Upload documents from the console; they are queued and the page follows their status."""
    bot = tenant_bot(session, user, slug)
    require_editor(user, N_("change knowledge"))
    try:
        results = await upload_files(request, ingest, slug)
    except FrontdeskError as exc:
        return knowledge_page(request, user, session, bot, upload_error=localize(request, exc))
    session.expire_all()
    audit.record(session, user, "knowledge.upload", slug, {"files": [r.file for r in results]}, request=request)
    return knowledge_page(request, user, session, bot, results=results)


@router.post("/bots/{slug}/knowledge/answers", response_model=None)
async def add_answer(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, ingest: IngestDep,
    question: Annotated[str, Form()] = "", answer: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Add a question and its answer to the knowledge as a Markdown document, queued like an upload."""
    bot = tenant_bot(session, user, slug)
    entry = {"question": question, "answer": answer}
    try:
        require_editor(user, N_("change knowledge"))
        name, content = answers.document(question, answer)
        result = await run_in_threadpool(answers.queue, ingest, slug, name, content)
        if not result.ok:
            raise BadRequest(result.error or Msg("the answer could not be added"))
    except FrontdeskError as exc:
        session.expire_all()
        error = localize(request, exc)
        return knowledge_page(request, user, session, bot, status=exc.status, entry=entry, entry_error=error)
    audit.record(session, user, "knowledge.answer", f"{slug}/{result.slug}", request=request)
    target = f"/admin/bots/{quote(slug)}/knowledge?added={quote(result.slug or '')}#documents"
    return RedirectResponse(target, status_code=303)


@router.get("/bots/{slug}/metrics", response_model=None)
def bot_metrics(
    slug: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    start: date | None = None,
    end: date | None = None,
    channel: str | None = None,
    intent: str | None = None,
    format: Literal["html", "csv", "jsonl"] = "html",
    export: Literal["series", "log"] = "series",
) -> HTMLResponse | StreamingResponse:
    """Satisfaction and performance figures of a bot; ?format=csv|jsonl streams the daily series
    (export=series) or the conversation log with traces (export=log) of the same scope."""
    bot = tenant_bot(session, user, slug)
    scope = report.make_scope(bot.id, start, end, channel, intent)
    if format != "html":
        if export == "log":
            rows = metrics_export.log_rows(request.app.state.services.engine, scope)
            columns = metrics_export.LOG_COLUMNS
        else:
            rows, columns = metrics_export.series_rows(queries.series(session, scope)), metrics_export.SERIES_COLUMNS
        body = metrics_export.csv_lines(rows, columns) if format == "csv" else metrics_export.jsonl_lines(rows)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        filename = report.export_filename(bot.slug, export, scope, format)
        return StreamingResponse(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    figures = queries.compute(session, scope)
    return render(request, "metrics.html", user=user, bot=bot, scope=scope, m=figures)
