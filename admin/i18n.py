"""Console translations: locale negotiation per request and gettext catalogs for Jinja.

The console speaks English (the source language of every template string) and Simplified
Chinese. A request's locale is, in order: the ``lang`` cookie set by the language switcher,
then the browser's ``Accept-Language``, then English. Catalogs are the ``.po`` files under
``admin/locale``, compiled in memory on first use (no binary ``.mo`` files in git, no build
step after a fresh clone).

Messages built in Python from values (an error naming a rule, a limit) are ``Msg`` objects: the
English text is ``str(msg)`` (logs, the JSON API), and a page shows ``localize(request, msg)`` or
``{{ msg | translated }}``, which translates the message id and then fills in the values.
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Mapping
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


class Msg:
    """A console message with named values, translated where it is shown (the Python side of ``_()``).

    The message id is ``%``-formatted with the values after translation, as template strings are
    (write a literal percent sign as ``%%``). A value that is itself a ``Msg`` is translated too;
    any other value is put in as it is, and the result is plain text, so a template escapes it.
    ``str(msg)`` is the English text. Babel extracts the literal first argument (admin/locale/babel.cfg).
    """

    __slots__ = ("msgid", "params", "plural", "count")

    def __init__(self, msgid: str, /, **params: object) -> None:
        self.msgid = msgid
        self.params: Mapping[str, object] = params
        self.plural: str | None = None
        self.count = 0

    def localize(self, catalog: gettext.NullTranslations) -> str:
        """The message in a catalog's language, with its values filled in."""
        if self.plural is None:
            text = catalog.gettext(self.msgid)
        else:
            text = catalog.ngettext(self.msgid, self.plural, self.count)
        values = {k: v.localize(catalog) if isinstance(v, Msg) else v for k, v in self.params.items()}
        try:
            return text % values
        except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder: show English
            log.warning("translation of %r does not format; showing English", self.msgid)
            english = self.msgid if self.plural is None or self.count == 1 else self.plural
            return english % values

    def __str__(self) -> str:
        return self.localize(gettext.NullTranslations())

    def __repr__(self) -> str:
        values = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Msg({self.msgid!r}{values})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        mine = (self.msgid, self.plural, self.count, dict(self.params))
        return mine == (other.msgid, other.plural, other.count, dict(other.params))

    __hash__ = None  # type: ignore[assignment]  # mutable values: not hashable


def nmsg(singular: str, plural: str, n: int, /, **params: object) -> Msg:
    """A ``Msg`` whose wording depends on a number (``ngettext``); ``%(n)s`` is the number unless given."""
    message = Msg(singular, **{"n": n, **params})
    message.plural, message.count = plural, n
    return message


def message_of(item: object) -> Msg | None:
    """The ``Msg`` an error carries (``FrontdeskError(Msg(...))`` or any ``SomeError(Msg(...))``), if any."""
    if isinstance(item, Msg):
        return item
    carried = getattr(item, "translatable", None)
    if isinstance(carried, Msg):
        return carried
    args = getattr(item, "args", ())
    return args[0] if isinstance(item, BaseException) and args and isinstance(args[0], Msg) else None


def localize(request: Request, item: Msg | BaseException | str) -> str:
    """A console message in the request's language, as plain text (a template still escapes it).

    Args:
        request: the console request (its locale is negotiated as for the page).
        item: a ``Msg``; an error carrying one; or an error or text without one, shown as it is
            (an error's ``message``, else ``str(error)``), since it may be a value typed by someone.

    Returns:
        The translated text, or English where the message has no reviewed translation.
    """
    message = message_of(item)
    if message is not None:
        return message.localize(translations(request_locale(request)))
    if isinstance(item, BaseException):
        return str(getattr(item, "message", None) or item)
    return item


def N_(message: str) -> str:
    """Mark a console string made in Python for the catalog; it is translated where a template shows it."""
    return message


@pass_context
def translated(context: Context, message: str | Msg | None) -> str | None:
    """The filter ``|translated``: a Python-made string (marked with N_) or a ``Msg`` in the page's language.

    Unlike ``_()``, the result is plain text, so autoescaping still applies to it (and to a Msg's values).
    """
    catalog = translations(_context_locale(context))
    if isinstance(message, Msg):
        return message.localize(catalog)
    return catalog.gettext(message) if message else message


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
