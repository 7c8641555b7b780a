"""Console errors built from values (admin/i18n.py ``Msg``) are shown in the reader's language.

The values put into a message stay escaped; ``str(error)``, logs and the JSON error shape stay English.
The page tests read the repository's zh_CN catalog; the mechanism tests use a small catalog of their own.
"""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.frontend import parse_keywords
from fastapi.testclient import TestClient
from jinja2 import Environment
from starlette.requests import Request

from admin import i18n
from admin.i18n import Msg, localize, message_of, nmsg
from bot.errors import ConfigError
from server.errors import BadRequest, Conflict, Translatable
from tests.conftest import SessionAuth, console_auth
from tests.server import accounts_helpers
from tests.server.accounts_helpers import PASSWORD, World
from tests.server.test_i18n import PYTHON_KEYWORDS

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

ROOT = Path(__file__).resolve().parents[2]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
RULES = "/admin/bots/shop/rules"
# admin/*.py files whose messages are still plain English f-strings (converted after their owner's change)
NOT_YET_CONVERTED: set[str] = set()
CONSOLE_ERRORS = {  # the error types whose message reaches a console page
    "FrontdeskError", "BadRequest", "NotFound", "Conflict", "Unavailable", "Forbidden", "NotSignedIn",
    "InviteInvalid", "ConfigError",
}


def request_in(locale: str) -> Request:
    """A bare request whose ``lang`` cookie asks for a locale."""
    return Request({"type": "http", "headers": [(b"cookie", f"lang={locale}".encode())]})


@pytest.fixture()
def small_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A zh_CN catalog with a few entries, one of them a translation that lost its placeholder."""
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        'msgid "a rule named %(name)s already exists"\nmsgstr "名为 %(name)s 的规则已存在"\n\n'
        'msgid "viewers cannot %(what)s"\nmsgstr "查看者不能%(what)s"\n\n'
        'msgid "change rules"\nmsgstr "更改规则"\n\n'
        'msgid "Sent (%(n)s message)."\nmsgid_plural "Sent (%(n)s messages)."\nmsgstr[0] "已发送（%(n)s 条消息）。"\n\n'
        'msgid "no rule %(rule)s for bot %(bot)s"\nmsgstr "机器人 %(robot)s 没有规则 %(rule)s"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    yield
    i18n.translations.cache_clear()


# --- the mechanism ---


def test_a_message_is_english_until_a_page_shows_it() -> None:
    message = Msg("a rule named %(name)s already exists", name="'faq'")
    assert str(message) == "a rule named 'faq' already exists"
    assert str(Msg("viewers cannot %(what)s", what=Msg("change rules"))) == "viewers cannot change rules"
    assert str(nmsg("Sent (%(n)s message).", "Sent (%(n)s messages).", 1)) == "Sent (1 message)."
    assert str(nmsg("Sent (%(n)s message).", "Sent (%(n)s messages).", 3)) == "Sent (3 messages)."
    assert message == Msg("a rule named %(name)s already exists", name="'faq'") != Msg("a rule named %(name)s")
    assert isinstance(message, Translatable) and not isinstance("text", Translatable)


def test_errors_keep_english_for_logs_and_the_api_and_carry_the_message() -> None:
    message = Msg("a rule named %(name)s already exists", name="'faq'")
    conflict = Conflict(message, code="duplicate_rule")
    assert str(conflict) == conflict.message == "a rule named 'faq' already exists"
    assert conflict.body() == {"error": {"code": "duplicate_rule", "message": "a rule named 'faq' already exists"}}
    assert conflict.translatable is message and message_of(conflict) is message
    plain = BadRequest("plain text")
    assert plain.translatable is None and message_of(plain) is None and plain.message == "plain text"
    config = ConfigError(message)  # any exception may carry a Msg as its only argument
    assert str(config) == "a rule named 'faq' already exists" and message_of(config) is message


@pytest.mark.usefixtures("small_catalog")
def test_localize_translates_then_fills_in_the_values() -> None:
    zh, en = request_in("zh-CN"), request_in("en")
    duplicate = Conflict(Msg("a rule named %(name)s already exists", name="'faq'"))
    assert localize(zh, duplicate) == "名为 'faq' 的规则已存在"
    assert localize(en, duplicate) == "a rule named 'faq' already exists"
    refusal = Msg("viewers cannot %(what)s", what=Msg("change rules"))  # a Msg value is translated too
    assert localize(zh, refusal) == "查看者不能更改规则"
    assert localize(zh, nmsg("Sent (%(n)s message).", "Sent (%(n)s messages).", 2)) == "已发送（2 条消息）。"
    assert localize(zh, Msg("no such invite")) == "no such invite"  # not in the catalog: English
    # text and errors without a Msg may hold what someone typed: shown as they are, never looked up
    assert localize(zh, "change rules") == "change rules"
    assert localize(zh, BadRequest("change rules")) == "change rules"
    assert localize(zh, ValueError("change rules")) == "change rules"


@pytest.mark.usefixtures("small_catalog")
def test_a_translation_that_lost_a_placeholder_shows_english(caplog: pytest.LogCaptureFixture) -> None:
    message = Msg("no rule %(rule)s for bot %(bot)s", rule="'r1'", bot="'shop'")
    assert localize(request_in("zh-CN"), message) == "no rule 'r1' for bot 'shop'"
    assert "does not format" in caplog.text


@pytest.mark.usefixtures("small_catalog")
def test_values_stay_escaped_where_a_page_shows_the_message() -> None:
    env = Environment(autoescape=True)
    i18n.install_translations(env)
    zh = request_in("zh-CN")
    message = Msg("a rule named %(name)s already exists", name=repr(EVIL))
    page = env.from_string("<p>{{ error }}</p>").render(error=localize(zh, message))
    assert page == f"<p>名为 &#39;{ESCAPED}&#39; 的规则已存在</p>"
    filtered = env.from_string("<p>{{ error | translated }}</p>").render(request=zh, error=message)
    assert filtered == page
    assert env.from_string("{{ error | translated }}").render(error=message) == (
        f"a rule named &#39;{ESCAPED}&#39; already exists"  # no request: English
    )


def test_babel_cfg_extracts_the_keywords_the_catalog_test_uses() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "admin" / "locale" / "babel.cfg")
    keywords = parse_keywords(config["python: admin/**.py"]["keywords"].split())
    assert {"N_": None, **keywords} == PYTHON_KEYWORDS


def test_console_errors_are_raised_with_translatable_messages() -> None:
    """An error raised in admin/*.py with plain text (an f-string) cannot be translated: use Msg(...)."""
    offenders = []
    for path in sorted((ROOT / "admin").glob("*.py")):
        if path.name in NOT_YET_CONVERTED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            called, first = node.exc.func, node.exc.args[0]
            name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", "")
            constant = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if name in CONSOLE_ERRORS and (constant or isinstance(first, ast.JoinedStr)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"raise these with Msg(...) (docs/i18n.md): {offenders}"


# --- pages, with the repository's catalog ---


def owner(world: World) -> SessionAuth:
    """A console session of tenant A's owner."""
    return console_auth(world.services, world.users["owner"].email)


def save_rule(client: TestClient, auth: SessionAuth, name: str, definition: str, priority: str = "5", **headers: str):  # type: ignore[no-untyped-def]
    data = {"name": name, "priority": priority, "enabled": "true", "definition": definition}
    return client.post(RULES, data=data, auth=auth, headers=headers, follow_redirects=False)


RULE = '{"when": {"keywords": ["gift card"]}, "then": [{"reply": "Gift cards never expire."}]}'


def test_rule_form_errors_speak_chinese_with_the_values_escaped(app_client, world) -> None:  # type: ignore[no-untyped-def]
    auth = owner(world)
    assert save_rule(app_client, auth, EVIL, RULE).status_code == 303
    duplicate = save_rule(app_client, auth, EVIL, RULE, **ZH)
    assert duplicate.status_code == 409 and '<html lang="zh-CN">' in duplicate.text
    assert f"名为 &#39;{ESCAPED}&#39; 的规则已存在" in duplicate.text and EVIL not in duplicate.text
    english = save_rule(app_client, auth, EVIL, RULE)
    assert english.status_code == 409 and f"a rule named &#39;{ESCAPED}&#39; already exists" in english.text
    assert "规则已存在" not in english.text

    broken = save_rule(app_client, auth, "gift", "{not json", **ZH)
    assert broken.status_code == 400
    assert "规则 JSON 无法解析：第 1 行第 2 列，Expecting property name enclosed in double quotes" in broken.text
    assert "优先级必须是整数" in save_rule(app_client, auth, "gift", RULE, priority="high", **ZH).text
    doubled = save_rule(app_client, auth, "gift", '{"priority": 1, "when": {}, "then": []}', **ZH)
    assert "请在 JSON 上方的字段中设置 priority，不要写在 JSON 里" in doubled.text
    tried = app_client.post(f"{RULES}/try", data={"text": " ", "count": "x"}, auth=auth, headers=ZH)
    assert tried.status_code == 400 and "请输入要试用的消息" in tried.text
    slots = app_client.post(f"{RULES}/try", data={"text": "hi", "slots": "[1]"}, auth=auth, headers=ZH)
    assert 'slots 必须是 JSON 对象，例如 {&#34;plan&#34;: &#34;pro&#34;}' in slots.text


def test_a_conflict_and_a_refused_role_speak_chinese_on_their_pages(app_client, world) -> None:  # type: ignore[no-untyped-def]
    taken = world.users["agent"].email
    form = {"email": taken, "role": "agent"}
    invited = app_client.post("/admin/users/invite", data=form, auth=owner(world), headers=ZH)
    assert invited.status_code == 409 and "此电子邮箱已有 Frontdesk 账号" in invited.text
    viewer = console_auth(world.services, world.users["viewer"].email)
    added = app_client.post(
        "/admin/bots/shop/intents/examples", data={"intent": "greet", "text": "hi"}, auth=viewer, headers=ZH
    )
    assert added.status_code == 403 and "查看者不能更改意图" in added.text
    answer = app_client.post(
        "/admin/bots/shop/knowledge/answers", data={"question": EVIL, "answer": " "}, auth=owner(world), headers=ZH
    )
    assert answer.status_code == 400 and "请输入答案" in answer.text and EVIL not in answer.text


def test_sign_in_errors_speak_chinese(app_client, world) -> None:  # type: ignore[no-untyped-def]
    form = app_client.get("/admin/login", headers=ZH)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    data = {"email": world.users["owner"].email, "password": PASSWORD + "x", "csrf_token": token}
    wrong = app_client.post("/admin/login", data=data, headers=ZH)
    assert wrong.status_code == 401 and "电子邮箱或密码错误。" in wrong.text
    expired = app_client.post("/admin/login", data={**data, "csrf_token": "stale"}, headers=ZH)
    assert expired.status_code == 403 and "表单已过期，请重试。" in expired.text
    english = app_client.post("/admin/login", data=data)
    assert "Wrong e-mail or password." in english.text


def test_json_errors_stay_english_for_a_chinese_console(app_client, world) -> None:  # type: ignore[no-untyped-def]
    viewer = console_auth(world.services, world.users["viewer"].email)
    refused = save_rule(app_client, viewer, "gift", RULE, **ZH)
    assert refused.status_code == 403
    assert refused.json() == {"error": {"code": "forbidden", "message": "viewers cannot change rules"}}
    missing = app_client.get("/admin/bots/nope/rules", auth=owner(world), headers=ZH)
    assert missing.json() == {"error": {"code": "unknown_bot", "message": "no bot named 'nope'"}}
