"""Console page of a bot's messaging channels: connect, edit, enable/disable, delete, status and test sends.

Everyone in the tenant may look (secrets masked); only owners and admins may change a channel or
send a test message. Every change goes to the audit log. Logic lives in server/channels/configs.py,
server/channels/manage.py and server/channels/status.py; this module is HTTP only.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from admin import audit
from admin.auth import MANAGERS, CurrentUser, require_manager
from admin.i18n import N_, localize, nmsg
from admin.routes import render, tenant_bot
from server.api.channels import ChannelsDep
from server.api.deps import ServicesDep, SessionDep
from server.channels import load_builtins, manage, status
from server.channels.base import CHANNELS
from server.channels.configs import add_channel, list_channels
from server.channels.delivery import RetryPolicy, SendError
from server.errors import FrontdeskError
from server.tables import Bot, User

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {
    "saved": N_("Channel settings saved."), "unchanged": N_("Nothing changed."), "enabled": N_("Channel enabled."),
    "disabled": N_("Channel disabled: its webhook now answers 404."), "deleted": N_("Channel deleted."),
}
TEST_RETRY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0)  # a person is waiting for the page


def page_url(slug: str, notice: str | None = None, anchor: str = "") -> str:
    """The channels page of a bot, with a notice and an anchor."""
    return f"/admin/bots/{quote(slug)}/channels" + (f"?notice={notice}" if notice else "") + anchor


def kinds() -> list[dict[str, Any]]:
    """Every registered kind with its settings form and test-send target."""
    load_builtins()
    return [
        {"kind": k, "fields": manage.setting_fields(k), "target": manage.TEST_TARGETS.get(k)} for k in sorted(CHANNELS)
    ]


def channel_views(request: Request, services: Any, session: Session, bot: Bot) -> list[dict[str, Any]]:
    """The bot's channels for the page: masked settings, absolute webhook URL, form fields and status."""
    origin = str(request.base_url).rstrip("/")
    views = []
    for info in list_channels(services.engine, services.secrets, bot.slug):
        base = info.settings.get("public_url", "").rstrip("/") or origin
        row = manage.get_channel(session, bot, info.id)
        views.append({
            "info": info, "webhook_url": base + info.path, "fields": manage.setting_fields(info.kind),
            "target": manage.TEST_TARGETS.get(info.kind), "status": status.channel_status(session, row),
        })
    return views


def channels_page(
    request: Request, user: User, services: Any, session: Session, bot: Bot, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    """Render the page; `extra` carries errors, a test result or secrets shown once."""
    response = render(
        request, "channels.html", user=user, bot=bot, manager=user.role in MANAGERS, kinds=kinds(),
        channels=channel_views(request, services, session, bot),
        notice=NOTICES.get(request.query_params.get("notice", "")), **extra,
    )
    response.status_code = status_code
    response.headers["Cache-Control"] = "no-store"  # may carry a generated secret shown once
    return response


@router.get("/bots/{slug}/channels", response_class=HTMLResponse)
def channels(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    """The bot's messaging channels, their webhook URLs, status and delivery log."""
    return channels_page(request, user, services, session, tenant_bot(session, user, slug))


@router.post("/bots/{slug}/channels", response_class=HTMLResponse)
async def connect_channel(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
) -> HTMLResponse:
    """Connect a channel; generated secrets are shown once, a bad setting beside the form."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("connect channels"))
    form = await request.form()
    kind, name = str(form.get("kind") or ""), str(form.get("name") or "")
    try:
        settings = manage.form_settings(kind, form)
        info, generated = add_channel(
            services.engine, services.secrets, bot.slug, kind, manage.check_name(name), settings
        )
    except FrontdeskError as exc:
        shown = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        errors = {f"connect:{kind}": localize(request, exc)}
        top = None if kind in CHANNELS else errors[f"connect:{kind}"]  # no form of that kind to show it beside
        return channels_page(request, user, services, session, bot, status_code=exc.status, errors=errors,
                             error=top, connect_form={"kind": kind, "values": shown})
    audit.record(session, user, "channel.connect", f"{bot.slug}/{info.name}",
                 {"kind": kind, "channel_id": info.id}, request=request)
    return channels_page(request, user, services, session, bot, new_channel=info.id, new_secrets=generated)


@router.post("/bots/{slug}/channels/{channel_id}/settings", response_class=HTMLResponse, response_model=None)
async def save_settings(
    slug: str, channel_id: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
) -> HTMLResponse | RedirectResponse:
    """Save a channel's settings; a blank secret keeps the stored one."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change channels"))
    row = manage.get_channel(session, bot, channel_id)
    try:
        changed = manage.update_settings(session, services.secrets, row, await request.form())
    except FrontdeskError as exc:
        return channels_page(request, user, services, session, bot, status_code=exc.status,
                             errors={f"settings:{row.id}": localize(request, exc)})
    if changed:
        audit.record(session, user, "channel.settings", f"{bot.slug}/{row.name}",
                     {"channel_id": row.id, "changed": changed}, request=request)
    return RedirectResponse(page_url(bot.slug, "saved" if changed else "unchanged", f"#{row.id}"), status_code=303)


@router.post("/bots/{slug}/channels/{channel_id}/enabled")
def set_enabled(
    slug: str, channel_id: str, request: Request, user: CurrentUser, session: SessionDep,
    enabled: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Enable (enabled=1) or disable the channel."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change channels"))
    row = manage.get_channel(session, bot, channel_id)
    on = enabled == "1"
    manage.set_enabled(session, row, on)
    action = "channel.enable" if on else "channel.disable"
    audit.record(session, user, action, f"{bot.slug}/{row.name}", {"channel_id": row.id}, request=request)
    return RedirectResponse(page_url(bot.slug, "enabled" if on else "disabled", f"#{row.id}"), status_code=303)


@router.post("/bots/{slug}/channels/{channel_id}/delete")
def delete_channel(
    slug: str, channel_id: str, request: Request, user: CurrentUser, session: SessionDep
) -> RedirectResponse:
    """Delete the channel: its webhook URL stops working at once."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("delete channels"))
    row = manage.get_channel(session, bot, channel_id)
    details = {"channel_id": row.id, "kind": row.kind}
    name = row.name
    manage.delete_channel(session, row)
    audit.record(session, user, "channel.delete", f"{bot.slug}/{name}", details, request=request)
    return RedirectResponse(page_url(bot.slug, "deleted"), status_code=303)


@router.post("/bots/{slug}/channels/{channel_id}/test", response_class=HTMLResponse)
async def send_test(
    slug: str, channel_id: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    channels: ChannelsDep, destination: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Send a test message through the platform's real send API; show its answer."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("send test messages"))
    row = manage.get_channel(session, bot, channel_id)
    tried = {"destination": destination, "text": text}
    try:
        channel = manage.build_test_channel(
            row.kind, services.secrets.open(row.config), bot=bot.slug, http=channels.http,
            retry=TEST_RETRY if channels.retry.attempts > TEST_RETRY.attempts else channels.retry, channel_id=row.id,
        )
        parts = await manage.send_test(channel, destination, text)
    except SendError as exc:
        result = {"channel": row.id, "ok": False, "message": localize(request, exc)}
    except FrontdeskError as exc:
        return channels_page(request, user, services, session, bot, status_code=exc.status,
                             errors={f"test:{row.id}": localize(request, exc)}, test_form=tried)
    else:
        sent = nmsg("Sent (%(n)s message).", "Sent (%(n)s messages).", parts)
        result = {"channel": row.id, "ok": True, "message": localize(request, sent)}
    audit.record(session, user, "channel.test", f"{bot.slug}/{row.name}",
                 {"channel_id": row.id, "ok": result["ok"]}, request=request)
    return channels_page(request, user, services, session, bot, status_code=200 if result["ok"] else 502,
                         test_result=result, test_form=tried)
