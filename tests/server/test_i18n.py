"""Console translations: locale negotiation, the zh_CN catalog's coverage and pages rendered in Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment
from starlette.requests import Request

from admin import i18n
from tests.conftest import SessionAuth, console_auth

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "admin" / "templates"
PYTHON_KEYWORDS: dict[str, Any] = {"N_": None, "Msg": None, "nmsg": (1, 2)}  # as admin/locale/babel.cfg


class LangAuth(SessionAuth):
    """A console session that also carries the language switcher's ``lang`` cookie."""

    def __init__(self, auth: SessionAuth, lang: str) -> None:
        super().__init__(auth.cookie, auth.csrf)
        self.lang = lang

    def __call__(self, request: Any) -> Any:
        """Session cookie, CSRF token and the ``lang`` cookie."""
        request = super().__call__(request)
        request.headers["Cookie"] += f"; lang={self.lang}"
        return request


def template_messages() -> Catalog:
    """Every translatable string of the console, extracted as Babel does (docs/i18n.md).

    The templates' ``_()`` strings, and the Python-made strings in admin/*.py: fixed ones marked with
    ``N_()`` and messages built from values, ``Msg()`` and ``nmsg()`` (admin/locale/babel.cfg).
    """
    catalog = Catalog(locale="en")
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(TEMPLATES), method_map=method_map, options_map=options
    ):
        catalog.add(message, None, context=context)
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT / "admin"), method_map=[("*.py", "python")], keywords=PYTHON_KEYWORDS
    ):
        catalog.add(message, None, context=context)
    return catalog


def zh_catalog() -> Catalog:
    """The zh_CN catalog as stored in the repository."""
    with i18n.catalog_path("zh-CN").open("rb") as po:
        return read_po(po, locale="zh_CN")


# --- negotiation ---


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh_cn", "zh-CN"),
        ("zh-Hans-SG", "zh-CN"),
        ("en-GB", "en"),
        ("zh-TW", None),
        ("zh-Hant", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_language_tags_map_to_supported_locales(tag: str | None, expected: str | None) -> None:
    assert i18n.normalize_locale(tag) == expected


def test_accept_language_is_ordered_by_quality() -> None:
    header = "fr;q=0.9, zh-CN;q=0.8, en;q=0.95, de;q=0, *;q=0.1"
    assert i18n.parse_accept_language(header) == ["en", "fr", "zh-CN"]
    assert i18n.parse_accept_language("en;q=abc, zh") == ["zh"]  # a malformed weight counts as 0
    assert i18n.parse_accept_language(None) == []


def test_cookie_beats_accept_language_which_beats_english() -> None:
    assert i18n.negotiate_locale("zh-CN", "en-US,en;q=0.9") == "zh-CN"
    assert i18n.negotiate_locale("en", "zh-CN") == "en"
    assert i18n.negotiate_locale(None, "fr-FR, zh;q=0.5") == "zh-CN"
    assert i18n.negotiate_locale("klingon", "zh-TW, en;q=0.1") == "en"  # bad cookie ignored; no Traditional catalog
    assert i18n.negotiate_locale(None, None) == "en"


def test_unsupported_locale_has_no_catalog_path() -> None:
    with pytest.raises(ValueError, match="supported: en, zh-CN"):
        i18n.catalog_path("fr")


# --- the catalog ---


def test_every_console_string_has_a_reviewed_chinese_translation() -> None:
    catalog = zh_catalog()
    untranslated = []
    for message in template_messages():
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        strings = [] if entry is None else (list(entry.string) if entry.pluralizable else [entry.string])
        if entry is None or entry.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert not untranslated, f"add zh_CN translations (docs/i18n.md) for: {untranslated}"


def test_catalog_is_up_to_date_with_the_templates() -> None:
    wanted = {(m.context, m.id if isinstance(m.id, str) else tuple(m.id)) for m in template_messages() if m.id}
    stored = {(m.context, m.id if isinstance(m.id, str) else tuple(m.id)) for m in zh_catalog() if m.id}
    assert not stored - wanted, f"obsolete entries, run the update of docs/i18n.md: {sorted(map(str, stored - wanted))}"


def test_translations_keep_their_placeholders() -> None:
    problems = [(message.id, errors) for message, errors in zh_catalog().check() if errors]
    assert not problems, problems


def test_fuzzy_entries_fall_back_to_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Inbox"\nmsgstr "收件箱"\n\n#, fuzzy\nmsgid "Users"\nmsgstr "用户"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        zh = i18n.translations("zh-CN")
        assert zh.gettext("Inbox") == "收件箱" and zh.gettext("Users") == "Users"
    finally:
        i18n.translations.cache_clear()


# --- pages ---


def test_console_speaks_chinese_to_a_chinese_browser(client, demo_services) -> None:
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    page = client.get("/admin/bots/demo/knowledge", auth=auth, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert ">收件箱</a>" in page.text and ">知识库</a>" in page.text and ">意图</a>" in page.text
    assert "Upload</button>" not in page.text and "上传</button>" in page.text


def test_english_stays_the_default(client, demo_services) -> None:
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    page = client.get("/admin/bots/demo/knowledge", auth=auth)
    assert '<html lang="en">' in page.text
    assert ">Inbox</a>" in page.text and ">Knowledge</a>" in page.text and "收件箱" not in page.text


def test_language_cookie_overrides_the_browser(client, demo_services) -> None:
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    chinese = client.get("/admin/", auth=LangAuth(auth, "zh-CN"), headers={"Accept-Language": "en-US"})
    assert '<html lang="zh-CN">' in chinese.text and "<h1>机器人</h1>" in chinese.text
    assert '<option value="zh-CN" lang="zh-CN" selected>' in chinese.text
    english = client.get("/admin/", auth=LangAuth(auth, "en"), headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in english.text and "<h1>Bots</h1>" in english.text


def test_sign_in_page_is_translated_before_sign_in(client) -> None:
    page = client.get("/admin/login", headers={"Accept-Language": "zh"})
    assert page.status_code == 200 and "<h1>登录</h1>" in page.text and 'id="lang-switch"' in page.text


CONSOLE_PAGES = [
    "/admin/",
    "/admin/inbox",
    "/admin/users",
    "/admin/api-keys",
    "/admin/audit",
    "/admin/bots/demo/conversations",
    "/admin/bots/demo/knowledge",
    "/admin/bots/demo/intents",
    "/admin/bots/demo/rules",
    "/admin/bots/demo/metrics",
    "/admin/bots/demo/widget",
    "/admin/bots/demo/hours",
    "/admin/bots/demo/channels",
    "/admin/bots/demo/actions",
    "/admin/bots/demo/privacy",
]


def test_every_console_page_renders_in_chinese(client, demo_services) -> None:
    auth = LangAuth(console_auth(demo_services, demo_services.seeded.admin_email), "zh-CN")
    for path in CONSOLE_PAGES:
        page = client.get(path, auth=auth)
        assert page.status_code == 200, (path, page.text[:300])
        assert '<html lang="zh-CN">' in page.text, path


def test_translated_values_are_still_escaped() -> None:
    """Placeholders in a translated string are filled with escaped values; without a request it is English."""
    env = Environment(autoescape=True)
    i18n.install_translations(env)
    template = env.from_string('<html lang="{{ page_locale() }}">{{ _("Signed in as %(email)s", email=email) }}')
    request = Request({"type": "http", "method": "GET", "path": "/admin/", "headers": [(b"cookie", b"lang=zh-CN")]})
    html = template.render(request=request, email="<b>x</b>")
    assert html == '<html lang="zh-CN">当前登录：&lt;b&gt;x&lt;/b&gt;'
    assert template.render(email="a@b") == '<html lang="en">Signed in as a@b'


def test_python_made_notices_are_translated_and_escaped() -> None:
    """A notice made in Python (marked N_) shows in Chinese through |translated, and stays escaped."""
    env = Environment(autoescape=True)
    i18n.install_translations(env)
    page = env.from_string("{{ notice | translated }}")
    request = Request({"type": "http", "headers": [(b"cookie", b"lang=zh-CN")]})
    assert page.render(request=request, notice="Rule saved.") == "规则已保存。"
    assert page.render(request=request, notice="<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
