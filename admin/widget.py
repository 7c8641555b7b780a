"""Console page of a bot's website widget: look and rules, embed snippet, identity-verification secret.

Changes are written to the audit log; CSRF: the session's token is checked by CurrentUser (admin/auth.py).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from admin import audit
from admin.auth import CurrentUser, require_manager
from admin.i18n import N_, localize
from admin.routes import render, tenant_bot
from server import widget
from server.api.deps import ServicesDep, SessionDep
from server.errors import BadRequest
from server.tables import Bot, User
from server.voice_turns import voice_service

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {"saved": N_("Widget settings saved.")}


def page_url(slug: str, notice: str | None = None) -> str:
    """The widget page of a bot."""
    return f"/admin/bots/{quote(slug)}/widget" + (f"?notice={notice}" if notice else "")


def widget_page(request: Request, user: User, bot: Bot, *, status: int = 200, **extra: Any) -> HTMLResponse:
    """The page: the settings form, the embed snippet and the identity section."""
    base = str(request.base_url).rstrip("/")
    extra.setdefault("form", widget.settings_of(bot).model_dump())
    voice = voice_service(request.app)
    response = render(
        request, "widget.html", user=user, bot=bot, base=base,
        snippet=f'<script src="{base}/widget.js" data-key="{bot.public_key}" async></script>',
        has_secret=bot.identity_secret is not None, voice_available=widget.VOICE_AVAILABLE,
        speak_default=voice.settings.reply_audio, voice_speaks=voice.engine.speaks,
        notice=NOTICES.get(request.query_params.get("notice", "")), **extra,
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # the page may carry a secret shown once
    return response


@router.get("/bots/{slug}/widget", response_class=HTMLResponse)
def widget_settings(slug: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The bot's widget settings, embed snippet and identity verification."""
    return widget_page(request, user, tenant_bot(session, user, slug))


@router.post("/bots/{slug}/widget", response_class=HTMLResponse, response_model=None)
def save_widget(
    slug: str, request: Request, user: CurrentUser, session: SessionDep,
    color: Annotated[str, Form()] = "", logo_url: Annotated[str, Form()] = "",
    greeting: Annotated[str, Form()] = "", position: Annotated[str, Form()] = "right",
    launcher_label: Annotated[str, Form()] = "", allowed_origins: Annotated[str, Form()] = "",
    csat_on_resolve: Annotated[bool, Form()] = False, csat_on_close: Annotated[bool, Form()] = False,
    uploads: Annotated[bool, Form()] = False, voice: Annotated[bool, Form()] = False,
    speak_replies: Annotated[str, Form()] = "",
    channel_csat_on_resolve: Annotated[bool, Form()] = False, channel_thumbs: Annotated[bool, Form()] = False,
) -> HTMLResponse | RedirectResponse:
    """Save the widget settings; a wrong field is shown beside the form."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change the widget"))
    origins = [line.strip() for line in allowed_origins.replace(",", "\n").splitlines() if line.strip()]
    values = {
        "color": color, "logo_url": logo_url, "greeting": greeting, "position": position,
        "launcher_label": launcher_label.strip() or "Chat with us", "allowed_origins": origins,
        "csat_on_resolve": csat_on_resolve, "csat_on_close": csat_on_close, "uploads": uploads, "voice": voice,
        "speak_replies": speak_replies or None,
        "channel_csat_on_resolve": channel_csat_on_resolve, "channel_thumbs": channel_thumbs,
    }
    try:
        settings = widget.parse_settings(values)
    except BadRequest as exc:
        form = {**values, "allowed_origins": origins}
        return widget_page(request, user, bot, status=400, form=form, form_error=localize(request, exc))
    bot.widget = settings.model_dump()
    session.add(bot)
    session.commit()
    details = {"allowed_origins": origins, "speak_replies": settings.speak_replies}
    audit.record(session, user, "widget.save", bot.slug, details, request=request)
    return RedirectResponse(page_url(bot.slug, "saved"), status_code=303)


@router.post("/bots/{slug}/widget/identity-secret", response_class=HTMLResponse)
def regenerate_secret(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    """Create a new identity secret (the old one stops working) and show it once."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change the widget"))
    secret = widget.set_identity_secret(session, services.secrets, bot)
    audit.record(session, user, "widget.identity_secret", bot.slug, request=request)
    return widget_page(request, user, bot, new_secret=secret)
