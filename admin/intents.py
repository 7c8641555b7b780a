"""Console pages for a bot's intents: examples, CSV upload, background training, versions and their scores.

Changes are written to the audit log; CSRF: the session's token is checked by CurrentUser (admin/auth.py).
"""

from __future__ import annotations

import copy
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from admin import audit
from admin.auth import CurrentUser, require_editor
from admin.i18n import N_, Msg, localize
from admin.prefill import prefill
from admin.routes import render, tenant_bot
from bot.errors import BotError
from bot.intents import OUT_OF_SCOPE
from bot.intents.data import read_csv
from server.api.deps import ServicesDep, SessionDep
from server.errors import BadRequest, FrontdeskError, NotFound
from server.intent_models import list_models, model_summary, promote_version, rollback
from server.intent_training import MAX_EXAMPLE_CHARS, TrainingJobs, add_example, delete_example, store_examples
from server.tables import Bot, Conversation, Intent, IntentExample, IntentModel, Message, User

router = APIRouter(prefix="/admin", include_in_schema=False)
EXAMPLES_SHOWN = 100  # per intent on the page
HEATMAP_LABELS = 20  # above this many labels the heat-map keeps the ones involved in mistakes
NOTICES = {
    "added": N_("Example added."),
    "deleted": N_("Example deleted."),
    "uploaded": N_("CSV examples replaced."),
    "training": N_("Training started."),
    "promoted": N_("Version promoted: the bot uses it from its next message."),
    "rolled_back": N_("Rolled back to the previous version."),
}
_jobs_lock = threading.Lock()


def training_jobs(request: Request) -> TrainingJobs:
    """The process's background training runs (made on first use)."""
    state = request.app.state
    with _jobs_lock:
        if not hasattr(state, "intent_jobs"):
            state.intent_jobs = TrainingJobs()
        return state.intent_jobs


def page_url(slug: str, notice: str | None = None, version: int | None = None) -> str:
    """The intents page of a bot."""
    query = "&".join(f"{k}={v}" for k, v in (("notice", notice), ("version", version)) if v is not None)
    return f"/admin/bots/{quote(slug)}/intents" + (f"?{query}" if query else "")


def intents_with_examples(session: Session, bot: Bot) -> list[dict[str, Any]]:
    """Each intent with its example count and first examples; out-of-scope last."""
    intents = session.exec(select(Intent).where(Intent.bot_id == bot.id)).all()
    rows = []
    for intent in sorted(intents, key=lambda i: (i.name == OUT_OF_SCOPE, i.name.lower())):
        examples = session.exec(
            select(IntentExample).where(IntentExample.intent_id == intent.id).order_by(col(IntentExample.created_at))
        ).all()
        by_source: dict[str, int] = {}
        for e in examples:
            by_source[e.source] = by_source.get(e.source, 0) + 1
        rows.append({"intent": intent, "count": len(examples), "by_source": by_source,
                     "examples": examples[:EXAMPLES_SHOWN], "oos": intent.name == OUT_OF_SCOPE})
    return rows


def conversations_of(session: Session, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Message id -> conversation id, for the examples labelled from messages that still exist."""
    ids = [e.message_id for r in rows for e in r["examples"] if e.message_id]
    if not ids:
        return {}
    found = session.exec(select(Message.id, Message.conversation_id).where(col(Message.id).in_(ids))).all()
    return dict(found)


def heatmap(metrics: dict[str, Any]) -> dict[str, Any]:
    """Labels and cells (count, share of the gold row) of the confusion heat-map."""
    matrix: dict[str, dict[str, int]] = metrics.get("confusion", {})
    labels: list[str] = metrics.get("labels", [])
    if len(labels) > HEATMAP_LABELS:
        involved = {m["gold"] for m in metrics.get("top_confusions", [])}
        involved |= {m["predicted"] for m in metrics.get("top_confusions", [])}
        labels = [label for label in labels if label in involved]
    cells = {}
    for gold in labels:
        total = sum(matrix.get(gold, {}).values()) or 1
        cells[gold] = {p: (n, round(n / total, 3)) for p, n in matrix.get(gold, {}).items()}
    return {"labels": labels, "cells": cells}


def selected_version(rows: list[IntentModel], version: int | None) -> IntentModel | None:
    """The version asked for, else the active one, else the newest."""
    if version is not None:
        found = next((r for r in rows if r.version == version), None)
        if found is None:
            raise NotFound(Msg("no version %(version)s", version=version), code="unknown_version")
        return found
    return next((r for r in rows if r.status == "active"), rows[0] if rows else None)


def intents_page(
    request: Request, user: User, session: Session, bot: Bot, version: int | None = None,
    notice: str | None = None, error: str | None = None, status: int = 200, example: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render the intents page; `example` prefills the add-an-example form (intent, text)."""
    services = request.app.state.services
    # The job first, as it is now: a job seen as done has promoted its version, so the versions read
    # next include that; read after them, a job finishing in between showed "done" over the old version.
    running = training_jobs(request).get(bot.slug)
    job = copy.copy(running) if running is not None else None
    rows = intents_with_examples(session, bot)
    versions = list_models(services.runtimes, bot.slug)
    chosen = selected_version(versions, version)
    metrics = (chosen.metrics or {}) if chosen else {}
    response = render(
        request, "intents.html", user=user, bot=bot, intents=rows, conversations=conversations_of(session, rows),
        versions=[model_summary(v) for v in versions], chosen=chosen, metrics=metrics,
        heat=heatmap(metrics) if metrics else None, job=job, notice=NOTICES.get(notice or ""), error=error,
        can_roll_back=sum(v.promoted_at is not None for v in versions) > 1, oos=OUT_OF_SCOPE,
        example=example or {"intent": "", "text": ""}, max_example=MAX_EXAMPLE_CHARS,
    )
    response.status_code = status
    return response


def _done(slug: str, notice: str, version: int | None = None) -> RedirectResponse:
    return RedirectResponse(page_url(slug, notice, version), status_code=303)


def _failed(
    request: Request, user: User, session: Session, bot: Bot, exc: FrontdeskError | BotError,
    example: dict[str, str] | None = None,
) -> HTMLResponse:
    status = exc.status if isinstance(exc, FrontdeskError) else 400
    message = localize(request, exc)
    session.expire_all()
    return intents_page(request, user, session, bot, error=message, status=status, example=example)


@router.get("/bots/{slug}/intents", response_class=HTMLResponse)
def intents(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, version: int | None = None,
    notice: str | None = None, example: str | None = None,
) -> HTMLResponse:
    """The bot's intents and examples, training status, model versions and the chosen version's scores.

    ?example= (the metrics page's "add as intent example" link) prefills the add-an-example form's text.
    """
    bot = tenant_bot(session, user, slug)
    prefilled = {"intent": "", "text": prefill(example, MAX_EXAMPLE_CHARS)}
    return intents_page(request, user, session, bot, version, notice, example=prefilled)


@router.post("/bots/{slug}/intents/examples", response_model=None)
def add_intent_example(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    intent: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
) -> Response:
    """Add one example to an intent (a new name creates the intent; 'oos' is out-of-scope)."""
    bot = tenant_bot(session, user, slug)
    try:
        require_editor(user, N_("change intents"))
        if not intent.strip():
            raise BadRequest(Msg("name the intent (or 'oos' for out-of-scope)"))
        add_example(services.runtimes, slug, intent, text, "console")
    except FrontdeskError as exc:  # the form keeps what was typed
        return _failed(request, user, session, bot, exc, {"intent": intent, "text": text})
    audit.record(session, user, "intent.example_add", f"{slug}/{intent.strip()}", request=request)
    return _done(slug, "added")


@router.post("/bots/{slug}/intents/examples/{example_id}/delete", response_model=None)
def delete_intent_example(
    slug: str, example_id: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Delete one example."""
    bot = tenant_bot(session, user, slug)
    try:
        require_editor(user, N_("change intents"))
        delete_example(services.runtimes, slug, example_id)
    except FrontdeskError as exc:
        return _failed(request, user, session, bot, exc)
    audit.record(session, user, "intent.example_delete", slug, {"example": example_id}, request=request)
    return _done(slug, "deleted")


@router.post("/bots/{slug}/intents/upload", response_model=None)
async def upload_intent_csv(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Replace the bot's CSV examples with an uploaded CSV (console and conversation examples stay)."""
    bot = tenant_bot(session, user, slug)
    limit = int(request.app.state.settings.max_upload_mb * 2**20)
    try:
        require_editor(user, N_("change intents"))
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise BadRequest(Msg("the CSV is larger than %(mb)s MiB", mb=request.app.state.settings.max_upload_mb))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "examples.csv"
            path.write_bytes(content)
            try:
                examples = read_csv(path)
            except BotError as exc:  # the message names the temporary file: say 'the CSV' instead
                raise BadRequest(str(exc).replace(f"{path}: ", "the CSV: ")) from exc
        await run_in_threadpool(store_examples, services.runtimes, slug, examples, "csv")
    except (FrontdeskError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            exc = BadRequest(Msg("the CSV is not UTF-8 text"))
        return _failed(request, user, session, bot, exc)
    audit.record(session, user, "intent.csv_upload", slug, {"examples": len(examples.texts)}, request=request)
    return _done(slug, "uploaded")


@router.post("/bots/{slug}/intents/train", response_model=None)
def train_intents(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    promote: Annotated[bool, Form()] = False,
) -> Response:
    """Start training a new version in the background; the page shows its progress."""
    bot = tenant_bot(session, user, slug)
    try:
        require_editor(user, N_("change intents"))
        training_jobs(request).start(services.runtimes, slug, promote)
    except FrontdeskError as exc:
        return _failed(request, user, session, bot, exc)
    audit.record(session, user, "intent.train", slug, {"promote": promote}, request=request)
    return _done(slug, "training")


@router.post("/bots/{slug}/intents/versions/{version}/promote", response_model=None)
def promote_intent_model(
    slug: str, version: int, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Make a version the active one."""
    bot = tenant_bot(session, user, slug)
    try:
        require_editor(user, N_("change intents"))
        promote_version(services.runtimes, slug, version)
    except FrontdeskError as exc:
        return _failed(request, user, session, bot, exc)
    audit.record(session, user, "intent.promote", slug, {"version": version}, request=request)
    return _done(slug, "promoted", version)


@router.post("/bots/{slug}/intents/rollback", response_model=None)
def rollback_intent_model(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Go back to the previously active version."""
    bot = tenant_bot(session, user, slug)
    try:
        require_editor(user, N_("change intents"))
        row = rollback(services.runtimes, slug)
    except FrontdeskError as exc:
        return _failed(request, user, session, bot, exc)
    audit.record(session, user, "intent.rollback", slug, {"version": row.version}, request=request)
    return _done(slug, "rolled_back", row.version)


@router.post("/conversations/{conversation_id}/messages/{message_id}/label", response_model=None)
def label_message(
    conversation_id: str, message_id: str, request: Request, user: CurrentUser, session: SessionDep,
    services: ServicesDep,
    intent: Annotated[str, Form()] = "", new_intent: Annotated[str, Form()] = "",
) -> Response:
    """Store a customer message as an example of an intent (or of out-of-scope); retraining uses it."""
    conversation = session.get(Conversation, conversation_id)
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    if conversation is None or bot is None or bot.tenant_id != user.tenant_id:
        raise NotFound(Msg("no such conversation"), code="unknown_conversation")
    message = session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id or message.role != "customer":
        raise NotFound(Msg("no such customer message in this conversation"), code="unknown_message")
    require_editor(user, N_("change intents"))
    name = new_intent.strip() or intent.strip()
    if not name:
        raise BadRequest(Msg("choose an intent, out-of-scope, or type a new intent"))
    add_example(services.runtimes, bot.slug, name, message.text, "conversation", message.id)
    audit.record(session, user, "intent.label", f"{bot.slug}/{name}", {"message": message.id}, request=request)
    target = f"/admin/conversations/{quote(conversation.id)}?labelled={quote(message.id)}#m-{quote(message.id)}"
    return RedirectResponse(target, status_code=303)

