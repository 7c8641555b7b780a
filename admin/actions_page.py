"""Console page of a bot's HTTP-action secrets: the signing secret and the named {{ secrets.NAME }} values.

The signing secret is shown masked; "Reveal" shows it once on the page that answers the POST,
"Rotate" replaces it and shows the new one once. Named secrets are listed by name only: a value
is never shown back. Owners and admins only; every change (and every reveal) is audited. The
functions that seal and store are server/action_secrets.py's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from admin import audit
from admin.auth import CurrentUser, require_manager
from admin.i18n import N_, Msg, localize
from admin.routes import render, tenant_bot
from server import action_secrets
from server.api.deps import ServicesDep, SessionDep
from server.errors import BadRequest
from server.secret_box import SecretBox
from server.tables import Bot, User

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {"set": N_("Secret saved."), "deleted": N_("Secret deleted.")}
WHAT = N_("manage HTTP action secrets")


def page_url(slug: str, notice: str | None = None) -> str:
    """The action secrets page of a bot."""
    return f"/admin/bots/{quote(slug)}/actions" + (f"?notice={notice}" if notice else "")


def masked(box: SecretBox, bot: Bot) -> str | None:
    """The signing secret with all but its prefix and last 4 characters hidden; None before it exists."""
    if not bot.action_signing_secret:
        return None
    secret = str(box.open(bot.action_signing_secret)["secret"])
    return action_secrets.SIGNING_PREFIX + "•" * 12 + secret[-4:]


def actions_page(
    request: Request, user: User, box: SecretBox, bot: Bot, *, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The page: the signing secret (masked, or shown once) and the named secrets' names."""
    response = render(
        request, "actions.html", user=user, bot=bot, masked=masked(box, bot),
        names=action_secrets.secret_names(box, bot), max_secrets=action_secrets.MAX_SECRETS,
        notice=NOTICES.get(request.query_params.get("notice", "")), **extra,
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # the page may carry a secret shown once
    return response


def managed_bot(session: Session, user: User, slug: str) -> Bot:
    """The tenant's bot (404 for others, first), for an owner or admin (403 for the rest)."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, WHAT)
    return bot


@router.get("/bots/{slug}/actions", response_class=HTMLResponse)
def actions(slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    """The bot's signing secret (masked) and the names of its action secrets."""
    return actions_page(request, user, services.secrets, managed_bot(session, user, slug))


@router.post("/bots/{slug}/actions/signing-secret/reveal", response_class=HTMLResponse)
def reveal_signing_secret(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    """Show the signing secret once (it is created if no action used it yet)."""
    bot = managed_bot(session, user, slug)
    secret = action_secrets.signing_secret(session, services.secrets, bot)
    audit.record(session, user, "actions.signing_secret.reveal", bot.slug, request=request)
    return actions_page(request, user, services.secrets, bot, shown_secret=secret, rotated=False)


@router.post("/bots/{slug}/actions/signing-secret/rotate", response_class=HTMLResponse)
def rotate_signing_secret(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    """Replace the signing secret (the old one stops signing at once) and show the new one once."""
    bot = managed_bot(session, user, slug)
    secret = action_secrets.rotate_signing_secret(session, services.secrets, bot)
    audit.record(session, user, "actions.signing_secret.rotate", bot.slug, request=request)
    return actions_page(request, user, services.secrets, bot, shown_secret=secret, rotated=True)


@router.post("/bots/{slug}/actions/secrets", response_class=HTMLResponse, response_model=None)
def set_secret(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    name: Annotated[str, Form()] = "", value: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Store (or replace) a named secret; a bad name or value is shown beside the form."""
    bot = managed_bot(session, user, slug)
    name = name.strip()
    existed = name in action_secrets.secret_names(services.secrets, bot)
    try:
        action_secrets.set_action_secret(session, services.secrets, bot, name, value)
    except BadRequest as exc:
        error = localize(request, exc)
        return actions_page(request, user, services.secrets, bot, status=400, set_error=error, set_name=name)
    audit.record(session, user, "actions.secret.set", f"{bot.slug}/{name}", {"replaced": existed}, request=request)
    return RedirectResponse(page_url(bot.slug, "set"), status_code=303)


@router.post("/bots/{slug}/actions/secrets/delete", response_class=HTMLResponse, response_model=None)
def delete_secret(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    name: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Forget a named secret; an unknown name is shown as an error (404)."""
    bot = managed_bot(session, user, slug)
    if not action_secrets.delete_action_secret(session, services.secrets, bot, name):
        message = localize(request, Msg("no secret named %(name)s", name=repr(name)))
        return actions_page(request, user, services.secrets, bot, status=404, delete_error=message)
    audit.record(session, user, "actions.secret.delete", f"{bot.slug}/{name}", request=request)
    return RedirectResponse(page_url(bot.slug, "deleted"), status_code=303)
