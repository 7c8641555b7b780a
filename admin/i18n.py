"""Console translations: locale negotiation per request and gettext catalogs for Jinja.

The console speaks English (the source language of every template string) and Simplified
Chinese. A request's locale is, in order: the ``lang`` cookie set by the language switcher,
then the browser's ``Accept-Language``, then English. Catalogs are the ``.po`` files under
``admin/locale``, compiled in memory on first use (no binary ``.mo`` files in git, no build
step after a fresh clone).
"""

from __future__ import annotations

import gettext
import io
import logging
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from starlette.requests import Request

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
COOKIE_NAME = "lang"
# BCP 47 tag (what HTML, cookies and the switcher use) -> gettext catalog folder name
SUPPORTED_LOCALES: dict[str, str] = {"en": "en", "zh-CN": "zh_CN"}
LOCALE_NAMES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
_TRADITIONAL = ("hant", "tw", "hk", "mo")


def normalize_locale(tag: str | None) -> str | None:
    """The supported locale a language tag stands for (``zh``, ``zh_CN``, ``zh-Hans-SG`` -> ``zh-CN``), else None."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and not any(p in _TRADITIONAL for p in parts[1:]):
        return "zh-CN"
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most preferred first (``q=0`` dropped)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and tag.strip() != "*" and quality > 0:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate_locale(cookie: str | None, accept_language: str | None) -> str:
    """The locale for a request: a valid ``lang`` cookie wins, then Accept-Language, then English."""
    chosen = normalize_locale(cookie)
    if chosen:
        return chosen
    for tag in parse_accept_language(accept_language):
        chosen = normalize_locale(tag)
        if chosen:
            return chosen
    return DEFAULT_LOCALE


def request_locale(request: Request) -> str:
    """The negotiated locale of a request, computed once and kept on ``request.state``."""
    cached = getattr(request.state, "locale", None)
    if cached in SUPPORTED_LOCALES:
        return str(cached)
    locale = negotiate_locale(request.cookies.get(COOKIE_NAME), request.headers.get("accept-language"))
    request.state.locale = locale
    return locale


def catalog_path(locale: str) -> Path:
    """Where the ``.po`` catalog of a supported locale lives."""
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(SUPPORTED_LOCALES)}")
    return LOCALE_DIR / SUPPORTED_LOCALES[locale] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled translations of a locale (English and a missing catalog: identity); cached."""
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    path = catalog_path(locale)
    if not path.is_file():
        log.warning("no catalog for locale %s at %s; showing English", locale, path)
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=SUPPORTED_LOCALES[locale], domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # fuzzy entries are unreviewed: English instead
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _context_locale(context: Context) -> str:
    """The locale of the request a template is rendered for (English without a request)."""
    request = context.get("request")
    return request_locale(request) if isinstance(request, Request) else DEFAULT_LOCALE


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_context_locale(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(_context_locale(context)).ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, msgctxt: str, message: str) -> str:
    return translations(_context_locale(context)).pgettext(msgctxt, message)


@pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return translations(_context_locale(context)).npgettext(msgctxt, singular, plural, n)


def N_(message: str) -> str:
    """Mark a console string made in Python for the catalog; it is translated where a template shows it."""
    return message


@pass_context
def translated(context: Context, message: str) -> str:
    """The filter ``|translated``: a Python-made string (marked with N_) in the page's language.

    Unlike ``_()``, the result is plain text, so autoescaping still applies to it.
    """
    return translations(_context_locale(context)).gettext(message) if message else message


@pass_context
def page_locale(context: Context) -> str:
    """The BCP 47 tag of the page being rendered, for ``<html lang>`` and the switcher."""
    return _context_locale(context)


def install_translations(env: Environment) -> None:
    """Make ``_()``, ``gettext``, ``ngettext`` and ``pgettext`` in templates speak each request's locale."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    install: Any = env.install_gettext_callables  # type: ignore[attr-defined]
    install(_gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext)
    env.globals["page_locale"] = page_locale
    env.filters["translated"] = translated
    env.globals["locale_names"] = LOCALE_NAMES
