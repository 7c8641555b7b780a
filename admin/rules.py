"""Console pages for a bot's reply rules: list, create, edit, enable/disable, delete, and "Try it".

Every change reloads the bot's rules in this process at once (RuntimeRegistry.reload_rules) and
is written to the audit log. CSRF: the session's token is checked by CurrentUser (admin/auth.py).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from admin import audit
from admin.auth import CurrentUser, require_editor
from admin.i18n import N_, Msg, localize
from admin.prefill import prefill
from admin.routes import render, tenant_bot
from bot.dryrun import try_rules
from bot.errors import ConfigError
from bot.rules import Rule
from server.api.deps import ServicesDep, SessionDep
from server.errors import NotFound
from server.runtimes import rule_of
from server.tables import Bot, ReplyRule, User

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {
    "saved": N_("Rule saved."), "deleted": N_("Rule deleted."),
    "enabled": N_("Rule enabled."), "disabled": N_("Rule disabled."),
}
COLUMNS = ("name", "priority", "enabled")
EXAMPLE = {"when": {"keywords": ["opening hours"]}, "then": [{"reply": "We're open Monday to Friday, 9am-5pm."}]}
MAX_TRY_CHARS = 2000  # of a customer's message carried to the Try-it box by a link
MAX_QUERY_CHARS = 8000  # of a redirect's query string (servers refuse request lines much over 8-16 KiB)


def page_url(slug: str, notice: str | None = None, text: str = "") -> str:
    """The rules page of a bot (text: the customer's message the rule is being written for, left out when too long)."""
    query = urlencode([(k, v) for k, v in (("notice", notice), ("text", text)) if v])
    if len(query) > MAX_QUERY_CHARS:  # a long message in a script with multi-byte letters: keep the URL short
        return page_url(slug, notice)
    return f"/admin/bots/{quote(slug)}/rules" + (f"?{query}" if query else "")


def rule_rows(session: Session, bot: Bot) -> list[dict[str, Any]]:
    """Each stored rule with its when/then summary, or the reason it no longer loads."""
    rows = session.exec(
        select(ReplyRule).where(ReplyRule.bot_id == bot.id).order_by(col(ReplyRule.priority), col(ReplyRule.name))
    ).all()
    out = []
    for row in rows:
        try:
            when, then = rule_of(row).summary()
            out.append({"row": row, "when": when, "then": then, "error": None})
        except ConfigError as exc:
            out.append({"row": row, "when": "", "then": "", "error": str(exc)})
    return out


def stored_rule(session: Session, bot: Bot, rule_id: str) -> ReplyRule:
    """A rule of this bot, or 404."""
    row = session.get(ReplyRule, rule_id)
    if row is None or row.bot_id != bot.id:
        unknown = Msg("no rule %(rule)s for bot %(bot)s", rule=repr(rule_id), bot=repr(bot.slug))
        raise NotFound(unknown, code="unknown_rule")
    return row


def editor_for(row: ReplyRule | None) -> dict[str, Any]:
    """The edit form's values: a stored rule (old shapes shown converted) or a new one."""
    if row is None:
        return {"id": "", "name": "", "priority": 100, "enabled": True, "definition": json.dumps(EXAMPLE, indent=2)}
    try:
        definition = rule_of(row).definition()
    except ConfigError:
        definition = row.definition  # show what is stored so it can be fixed
    text = json.dumps(definition, indent=2, ensure_ascii=False)
    return {"id": row.id, "name": row.name, "priority": row.priority, "enabled": row.enabled, "definition": text}


def try_form_for(text: str) -> dict[str, str]:
    """The Try-it box's values for a message, the other fields at their defaults."""
    return {"text": text, "channel": "web", "attributes": "", "slots": "", "count": ""}


def rules_page(
    request: Request, user: User, session: Session, bot: Bot, *, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The rules page: the list, the editor and the Try-it box."""
    extra.setdefault("editor", editor_for(None))
    extra.setdefault("try_form", try_form_for(""))
    notice = NOTICES.get(request.query_params.get("notice", ""))
    response = render(request, "rules.html", user=user, bot=bot, rules=rule_rows(session, bot), notice=notice, **extra)
    response.status_code = status
    return response


@router.get("/bots/{slug}/rules", response_class=HTMLResponse)
def rules(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, edit: str | None = None,
    text: str | None = None,
) -> HTMLResponse:
    """The bot's rules in priority order, an editor and the Try-it box.

    ?text= (the metrics page's "create rule" link) shows a customer's message beside the editor
    and prefills the Try-it box with it, so a rule can be written and checked against it.
    """
    bot = tenant_bot(session, user, slug)
    editor = editor_for(stored_rule(session, bot, edit) if edit else None)
    asked = prefill(text, MAX_TRY_CHARS)
    return rules_page(request, user, session, bot, editor=editor, try_form=try_form_for(asked), asked=asked)


def parse_rule(name: str, priority: str, enabled: bool, definition: str) -> Rule:
    """Validate the editor's fields into a rule; ConfigError says what is wrong."""
    try:
        data = json.loads(definition)
    except json.JSONDecodeError as exc:
        raise ConfigError(Msg(
            "the rule JSON does not parse: %(error)s at line %(line)s, column %(column)s",
            error=exc.msg, line=exc.lineno, column=exc.colno,
        )) from exc
    if not isinstance(data, dict):
        raise ConfigError(Msg('the rule JSON must be an object: {"when": {...}, "then": [...]}'))
    doubled = sorted(set(data) & set(COLUMNS))
    if doubled:
        raise ConfigError(Msg("set %(fields)s in the fields above the JSON, not in it", fields=", ".join(doubled)))
    try:
        number = int(priority)
    except ValueError as exc:
        raise ConfigError(Msg("priority must be a whole number")) from exc
    return Rule.from_dict({**data, "name": name.strip(), "priority": number, "enabled": enabled})


@router.post("/bots/{slug}/rules", response_class=HTMLResponse, response_model=None)
def save_rule(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    name: Annotated[str, Form()] = "", priority: Annotated[str, Form()] = "100",
    enabled: Annotated[bool, Form()] = False, definition: Annotated[str, Form()] = "",
    rule_id: Annotated[str, Form()] = "", asked: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Create a rule, or update the one named by rule_id; errors are shown beside the form."""
    bot = tenant_bot(session, user, slug)
    require_editor(user, N_("change rules"))
    asked = prefill(asked, MAX_TRY_CHARS)
    kept = {"asked": asked, "try_form": try_form_for(asked)} if asked else {}
    row = stored_rule(session, bot, rule_id) if rule_id else ReplyRule(bot_id=bot.id, name="")
    editor = {"id": rule_id, "name": name, "priority": priority, "enabled": enabled, "definition": definition}
    try:
        rule = parse_rule(name, priority, enabled, definition)
    except ConfigError as exc:
        error = localize(request, exc)
        return rules_page(request, user, session, bot, status=400, editor=editor, form_error=error, **kept)
    row.name, row.priority, row.enabled, row.definition = rule.name, rule.priority, rule.enabled, rule.definition()
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        message = localize(request, Msg("a rule named %(name)s already exists", name=repr(rule.name)))
        return rules_page(request, user, session, bot, status=409, editor=editor, form_error=message, **kept)
    services.runtimes.reload_rules(bot.slug)
    audit.record(session, user, "rule.save", f"{bot.slug}/{rule.name}", {"new": not rule_id}, request=request)
    return RedirectResponse(page_url(bot.slug, "saved", asked), status_code=303)


@router.post("/bots/{slug}/rules/{rule_id}/toggle")
def toggle_rule(
    slug: str, rule_id: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> RedirectResponse:
    """Enable a disabled rule, or disable an enabled one."""
    bot = tenant_bot(session, user, slug)
    require_editor(user, N_("change rules"))
    row = stored_rule(session, bot, rule_id)
    row.enabled = not row.enabled
    session.add(row)
    session.commit()
    services.runtimes.reload_rules(bot.slug)
    audit.record(session, user, "rule.toggle", f"{bot.slug}/{row.name}", {"enabled": row.enabled}, request=request)
    return RedirectResponse(page_url(bot.slug, "enabled" if row.enabled else "disabled"), status_code=303)


@router.post("/bots/{slug}/rules/{rule_id}/delete")
def delete_rule(
    slug: str, rule_id: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> RedirectResponse:
    """Delete a rule (a flow waiting on it is dropped at the customer's next message)."""
    bot = tenant_bot(session, user, slug)
    require_editor(user, N_("change rules"))
    row = stored_rule(session, bot, rule_id)
    session.delete(row)
    session.commit()
    services.runtimes.reload_rules(bot.slug)
    audit.record(session, user, "rule.delete", f"{bot.slug}/{row.name}", request=request)
    return RedirectResponse(page_url(bot.slug, "deleted"), status_code=303)


def _json_object(label: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(Msg("%(label)s must be a JSON object: %(error)s", label=label, error=exc.msg)) from exc
    if not isinstance(value, dict):
        raise ConfigError(Msg('%(label)s must be a JSON object such as {"plan": "pro"}', label=label))
    return value


@router.post("/bots/{slug}/rules/try", response_class=HTMLResponse)
async def try_it(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    text: Annotated[str, Form()] = "", channel: Annotated[str, Form()] = "web",
    attributes: Annotated[str, Form()] = "", slots: Annotated[str, Form()] = "", count: Annotated[str, Form()] = "",
    asked: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Dry-run a message: which rule fires, and every rule's conditions with their reasons."""
    bot = tenant_bot(session, user, slug)
    asked = prefill(asked, MAX_TRY_CHARS)  # the customer's message the rule is being written for, kept on the page
    try_form = {"text": text, "channel": channel, "attributes": attributes, "slots": slots, "count": count}
    try:
        if not text.strip():
            raise ConfigError(Msg("type a message to try"))
        number = int(count) if count.strip() else 0
        if number < 0:
            raise ConfigError(Msg("the message number must be 1 or more"))
        runtime = await run_in_threadpool(services.runtimes.get, bot.slug)
        trial = await run_in_threadpool(
            try_rules, runtime, text.strip(), channel.strip() or "web",
            _json_object("attributes", attributes), _json_object("slots", slots), number,
        )
    except (ConfigError, ValueError) as exc:
        wrong = Msg("the message number must be a whole number") if isinstance(exc, ValueError) else exc
        message = localize(request, wrong)
        return rules_page(request, user, session, bot, status=400, try_form=try_form, try_error=message, asked=asked)
    return rules_page(request, user, session, bot, try_form=try_form, trial=trial, asked=asked)
