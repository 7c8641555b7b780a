"""Console privacy page of a bot: what is stored and for how long, and one customer's data on request.

A privacy officer finds one customer (by the id their channel gives them, an e-mail address the
widget's identify() or the channel recorded, or a conversation id), sees what is stored about them,
exports it as JSON and deletes all of it in one confirmed action. The deletion is the same as
DELETE /api/v1/bots/{bot}/customers/{customer} (server/privacy.py): conversations, messages,
feedback, labelled intent examples, channel deliveries and voice recordings.

Roles: owners and admins may do everything; viewers may look and export but not delete or change
settings; agents have no access (they answer customers, they do not handle data requests). Every
look-up, export, deletion and settings change is written to the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from admin import audit
from admin.auth import MANAGERS, CurrentUser, Forbidden, require_manager
from admin.i18n import N_, Msg, localize
from admin.routes import render, tenant_bot
from server import privacy, voice_store
from server.api.deps import ServicesDep, SessionDep
from server.errors import NotFound
from server.tables import Bot, Conversation, Feedback, Message, Tenant, User, utcnow

router = APIRouter(prefix="/admin", include_in_schema=False)
MAX_RETENTION_DAYS = 3650
MAX_SHOWN_MESSAGES = 200  # per customer on the page; the export has every message
NOTICES = {"saved": N_("Privacy settings saved."), "deleted": N_("The customer's data was deleted.")}


@dataclass
class Stored:
    """How much of the bot's customer data is stored right now."""

    conversations: int
    messages: int
    feedback: int
    recordings: int


@dataclass
class Found:
    """One customer as found by a look-up: their conversations (oldest first) and the keys that name them."""

    query: str
    conversations: list[Conversation]
    keys: list[str]
    messages: dict[str, list[Message]] = field(default_factory=dict)
    feedback: dict[str, int] = field(default_factory=dict)
    recordings: dict[str, int] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        """Messages shown on the page, over every conversation."""
        return sum(len(m) for m in self.messages.values())


def page_url(slug: str, customer: str | None = None, notice: str | None = None) -> str:
    """The privacy page of a bot, optionally with a customer looked up or a notice shown."""
    url = f"/admin/bots/{quote(slug, safe='')}/privacy"
    params = []
    if customer:
        params.append(f"customer={quote(customer, safe='')}")
    if notice:
        params.append(f"notice={notice}")
    return url + ("?" + "&".join(params) if params else "")


def require_privacy_access(user: User) -> None:
    """Owners, admins and viewers may see customers' data here; agents may not.

    Raises:
        Forbidden: the user is an agent.
    """
    if user.role not in (*MANAGERS, "viewer"):
        raise Forbidden(Msg("agents cannot open the privacy page; ask an owner or admin"))


def no_data(slug: str, customer: str) -> Msg:
    """The refusal for a customer the bot holds nothing about."""
    return Msg("bot %(bot)s has no data for customer %(customer)s", bot=repr(slug), customer=repr(customer))


def recording_count(data_dir: Path | None, bot_id: str, conversation_id: str) -> int:
    """How many voice files are stored for a conversation (0 without a data folder)."""
    if data_dir is None:
        return 0
    try:
        folder = voice_store.folder(data_dir, bot_id, conversation_id)
    except ValueError:  # an id that cannot be a folder name has no recordings
        return 0
    return sum(1 for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")) if folder.is_dir() else 0


def stored_counts(session: Session, bot: Bot, data_dir: Path | None) -> Stored:
    """Counts of the bot's stored conversations, messages, feedback and voice recordings."""
    conversations = session.exec(
        select(func.count()).select_from(Conversation).where(Conversation.bot_id == bot.id)
    ).one()
    messages = session.exec(
        select(func.count())
        .select_from(Message)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(Conversation.bot_id == bot.id)
    ).one()
    feedback = session.exec(select(func.count()).select_from(Feedback).where(Feedback.bot_id == bot.id)).one()
    recordings = 0
    if data_dir is not None:
        root = data_dir / voice_store.VOICE_DIR / bot.id
        if root.is_dir():
            recordings = sum(1 for f in root.rglob("*") if f.is_file() and not f.name.startswith("."))
    return Stored(int(conversations), int(messages), int(feedback), recordings)


def find_customer(session: Session, bot: Bot, query: str) -> list[Conversation]:
    """The bot's conversations with one customer, oldest first.

    The query matches a channel user id exactly, a conversation id exactly, or an e-mail address
    (case-insensitive) recorded as the conversation's `email` attribute or used as the channel user id.
    """
    query = query.strip()
    if not query:
        return []
    conditions = [col(Conversation.external_user_id) == query, col(Conversation.id) == query]
    if "@" in query:
        email = query.lower()
        conditions.append(func.lower(col(Conversation.external_user_id)) == email)
        conditions.append(func.lower(col(Conversation.attributes)["email"].as_string()) == email)
    statement = select(Conversation).where(Conversation.bot_id == bot.id, or_(*conditions))
    return list(session.exec(statement.order_by(col(Conversation.created_at))).all())


def customer_keys(conversations: list[Conversation]) -> list[str]:
    """The names server.privacy knows these conversations by: the channel user id, else the conversation id."""
    keys: list[str] = []
    for conversation in conversations:
        key = conversation.external_user_id or conversation.id
        if key not in keys:
            keys.append(key)
    return keys


def look_up(session: Session, bot: Bot, query: str, data_dir: Path | None) -> Found:
    """Everything the page shows about one customer.

    Every conversation of a matched channel user id is included, not only the one that matched
    (deleting a person deletes all their conversations with the bot).
    """
    conversations = find_customer(session, bot, query)
    keys = customer_keys(conversations)
    if keys:
        statement = select(Conversation).where(
            Conversation.bot_id == bot.id,
            or_(col(Conversation.external_user_id).in_(keys), col(Conversation.id).in_(keys)),
        )
        conversations = list(session.exec(statement.order_by(col(Conversation.created_at))).all())
    found = Found(query=query, conversations=conversations, keys=keys)
    for conversation in conversations:
        found.messages[conversation.id] = list(
            session.exec(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(col(Message.created_at))
                .limit(MAX_SHOWN_MESSAGES)
            ).all()
        )
        found.feedback[conversation.id] = int(
            session.exec(
                select(func.count()).select_from(Feedback).where(Feedback.conversation_id == conversation.id)
            ).one()
        )
        found.recordings[conversation.id] = recording_count(data_dir, bot.id, conversation.id)
    return found


def export_found(engine: Any, bot: Bot, found: Found, data_dir: Path | None) -> dict[str, Any]:
    """One JSON-ready object with every conversation, message, feedback and recording name of the customer."""
    conversations: dict[str, dict[str, Any]] = {}
    for key in found.keys:
        for conversation in privacy.export_customer(engine, bot.slug, key)["conversations"]:
            conversations.setdefault(conversation["id"], conversation)
    for conversation_id, conversation in conversations.items():
        files: list[dict[str, Any]] = []
        if data_dir is not None:
            folder = voice_store.folder(data_dir, bot.id, conversation_id)
            if folder.is_dir():
                files = [
                    {"file": f.name, "bytes": f.stat().st_size}
                    for f in sorted(folder.iterdir())
                    if f.is_file() and not f.name.startswith(".")
                ]
        conversation["recordings"] = files
    return {
        "bot": bot.slug,
        "query": found.query,
        "customers": found.keys,
        "exported_at": utcnow().isoformat(),
        "conversations": list(conversations.values()),
    }


def privacy_page(
    request: Request,
    user: User,
    session: Session,
    bot: Bot,
    data_dir: Path | None,
    *,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The page: what is stored, the retention settings and, when asked, one customer's data."""
    tenant = session.get(Tenant, bot.tenant_id)
    assert tenant is not None  # a bot always belongs to a tenant (foreign key)
    extra.setdefault("found", None)
    extra.setdefault("query", "")
    extra.setdefault(
        "form", {"retention_days": tenant.retention_days or "", "keep_original_text": tenant.keep_original_text}
    )
    response = render(
        request,
        "privacy.html",
        user=user,
        bot=bot,
        tenant=tenant,
        stored=stored_counts(session, bot, data_dir),
        can_edit=user.role in MANAGERS,
        notice=NOTICES.get(request.query_params.get("notice", "")),
        max_retention=MAX_RETENTION_DAYS,
        max_shown=MAX_SHOWN_MESSAGES,
        **extra,
    )
    response.status_code = status
    return response


@router.get("/bots/{slug}/privacy", response_class=HTMLResponse)
def privacy_console(
    slug: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    customer: str = "",
) -> HTMLResponse:
    """What the bot stores, the tenant's retention settings and, given `customer`, that customer's data."""
    bot = tenant_bot(session, user, slug)
    require_privacy_access(user)
    data_dir = services.settings.data_dir
    query = customer.strip()[:300]
    found = look_up(session, bot, query, data_dir) if query else None
    if found is not None:
        audit.record(
            session,
            user,
            "privacy.lookup",
            f"{bot.slug}/{query}",
            {"conversations": len(found.conversations)},
            request=request,
        )
    return privacy_page(request, user, session, bot, data_dir, query=query, found=found)


@router.post("/bots/{slug}/privacy/settings", response_class=HTMLResponse, response_model=None)
def save_settings(
    slug: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    retention_days: Annotated[str, Form()] = "",
    keep_original_text: Annotated[bool, Form()] = False,
) -> HTMLResponse | RedirectResponse:
    """Change the tenant's retention window (empty: keep) and whether original customer text is stored."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change retention settings"))
    form = {"retention_days": retention_days, "keep_original_text": keep_original_text}
    days: int | None = None
    if retention_days.strip():
        try:
            days = int(retention_days.strip())
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_RETENTION_DAYS:
            wrong = Msg("retention must be a whole number of days from 1 to %(max)s, or empty to keep",
                        max=MAX_RETENTION_DAYS)
            message = localize(request, wrong)
            return privacy_page(
                request, user, session, bot, services.settings.data_dir, status=400, form=form, form_error=message
            )
    tenant = session.get(Tenant, user.tenant_id)
    assert tenant is not None
    tenant.retention_days, tenant.keep_original_text = days, keep_original_text
    session.add(tenant)
    session.commit()
    audit.record(
        session,
        user,
        "privacy.settings",
        "tenant",
        {"retention_days": days, "keep_original_text": keep_original_text},
        request=request,
    )
    return RedirectResponse(page_url(bot.slug, notice="saved"), status_code=303)


@router.get("/bots/{slug}/privacy/customers/{customer:path}/export")
async def export_customer(
    slug: str, customer: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Response:
    """Download everything stored about one customer as a JSON file."""
    bot = tenant_bot(session, user, slug)
    require_privacy_access(user)
    data_dir = services.settings.data_dir
    found = look_up(session, bot, customer, data_dir)
    if not found.keys:
        raise NotFound(no_data(slug, customer), code="unknown_customer")
    exported = await run_in_threadpool(export_found, services.engine, bot, found, data_dir)
    audit.record(
        session,
        user,
        "privacy.export",
        f"{bot.slug}/{customer}",
        {"conversations": len(exported["conversations"])},
        request=request,
    )
    body = json.dumps(exported, ensure_ascii=False, indent=2)
    filename = f"{bot.slug}-customer-export.json"
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/bots/{slug}/privacy/customers/{customer:path}/delete", response_class=HTMLResponse, response_model=None)
async def delete_customer(
    slug: str,
    customer: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    confirm: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Delete everything stored about one customer in one action; `confirm` must repeat the customer."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("delete customer data"))
    data_dir = services.settings.data_dir
    found = look_up(session, bot, customer, data_dir)
    if not found.keys:
        raise NotFound(no_data(slug, customer), code="unknown_customer")
    if confirm.strip() != customer:
        return privacy_page(
            request,
            user,
            session,
            bot,
            data_dir,
            status=400,
            query=customer,
            found=found,
            delete_error=localize(request, Msg("type the customer exactly as shown to confirm the deletion")),
        )
    total = privacy.Deleted()
    for key in found.keys:
        try:
            done = await run_in_threadpool(privacy.delete_customer, services.engine, bot.slug, key, data_dir)
        except NotFound:  # deleted meanwhile, e.g. by the retention purge
            continue
        total.conversations += done.conversations
        total.messages += done.messages
        total.feedback += done.feedback
    details = {
        "conversations": total.conversations,
        "messages": total.messages,
        "feedback": total.feedback,
        "recordings": sum(found.recordings.values()),
    }
    audit.record(session, user, "privacy.delete", f"{bot.slug}/{customer}", details, request=request)
    return RedirectResponse(page_url(bot.slug, notice="deleted"), status_code=303)
