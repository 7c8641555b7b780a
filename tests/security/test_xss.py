"""XSS: what customers (and uploaded files) write reaches the console as text, and reply templates are sandboxed.

Pages are parsed as a browser would tokenise them: an injected payload would show up as a tag or an
event-handler attribute, so the tests look for those, not only for the raw string.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from jinja2.exceptions import SecurityError
from sqlmodel import Session, select

from bot.actions import compile_template
from server.app import create_app
from server.tables import Bot
from tests.security.conftest import Deployment
from tests.security.helpers import auth_headers

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=1">',
    "javascript:window.__xss=1",
    "<svg/onload=window.__xss=1>",
    "</textarea><iframe srcdoc='<script>parent.__xss=1</script>'>",
]
INJECTED_TAGS = {"script", "img", "svg", "iframe"}


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(page: str) -> None:
    """No tag, handler or javascript: URL from the payloads made it into the markup."""
    parser = Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            assert not (name.startswith("on") and "__xss" in (value or "")), (tag, attrs)
            if name in ("href", "src", "action", "srcdoc") and "__xss" in (value or ""):
                # a payload may travel percent-encoded in a query parameter (a "fix this" link); only a
                # script URL or raw markup would run
                url = (value or "").strip().lower()
                assert not url.startswith(("javascript:", "data:")) and "<" not in url, (tag, attrs)
                assert name != "srcdoc", (tag, attrs)
        if tag in INJECTED_TAGS:
            assert attrs.get("src") != "x" and "__xss" not in str(attrs), (tag, attrs)
    scripts = [t for t, _ in parser.tags if t == "script"]
    assert len(scripts) == page.count("<script"), "a script tag appeared outside the parser's view"
    assert "window.__xss=1</script>" not in page


@pytest.fixture(scope="module")
def console(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app) as client:
        client.headers.update(auth_headers(client, console=True))
        yield client


@pytest.fixture(scope="module")
def hostile_conversations(console: TestClient) -> list[str]:
    """A conversation where the customer sent every payload, and one where a reply rule echoed one back."""
    conversation = None
    for text in PAYLOADS:  # stored even once the bot has handed the conversation to a person
        body = {"text": text, **({"conversation_id": conversation} if conversation else {})}
        answer = console.post("/api/v1/bots/acme/messages", json=body, headers={"Cookie": ""})
        assert answer.status_code == 200, answer.text
        conversation = answer.json()["conversation_id"]
    echo = console.post("/api/v1/bots/acme/messages", json={"text": "echo " + PAYLOADS[1]}, headers={"Cookie": ""})
    assert PAYLOADS[1] in echo.json()["reply"]["text"]  # the bot's reply carries the payload as plain text
    comment = console.post(f"/api/v1/conversations/{conversation}/feedback",
                           json={"kind": "csat", "score": 1, "comment": PAYLOADS[0]}, headers={"Cookie": ""})
    assert comment.status_code < 300, comment.text
    return [str(conversation), echo.json()["conversation_id"]]


def test_transcripts_show_customer_text_and_echoed_replies_as_text(
    console: TestClient, hostile_conversations: list[str]
) -> None:
    for conversation in hostile_conversations:
        page = console.get(f"/admin/conversations/{conversation}")
        assert page.status_code == 200
        assert "&lt;img src=x onerror=" in page.text  # shown, escaped
        assert_inert(page.text)


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/bots/acme/conversations", "/admin/bots/acme/metrics", "/admin/bots/acme/intents",
     "/admin/bots/acme/knowledge", "/admin/bots/acme/rules", "/admin/bots/acme/widget"],
)
def test_console_pages_stay_inert(console: TestClient, hostile_conversations: list[str], path: str) -> None:
    page = console.get(path)
    assert page.status_code == 200, page.text
    assert_inert(page.text)


def test_a_hostile_file_name_is_escaped_in_the_knowledge_page(console: TestClient) -> None:
    name = '<img src=x onerror="window.__xss=1">.md'
    files = {"files": (name, io.BytesIO(b"# Hostile\n\nA document with a hostile name."), "text/markdown")}
    upload = console.post("/api/v1/bots/acme/documents?wait=true", files=files)
    assert upload.status_code in (200, 202), upload.text
    page = console.get("/admin/bots/acme/knowledge")
    assert "&lt;img src=x" in page.text or "img-src-x" in page.text
    assert_inert(page.text)


def test_the_kb_article_page_escapes_document_text(console: TestClient) -> None:
    files = {"files": ("article.md", io.BytesIO(f"# Article\n\n{PAYLOADS[1]} {PAYLOADS[0]}".encode()), "text/markdown")}
    assert console.post("/api/v1/bots/acme/documents?wait=true", files=files).status_code in (200, 202)
    page = console.get("/kb/acme/article")
    assert page.status_code == 200
    assert_inert(page.text)


# ---- reply templates run in Jinja's sandbox ------------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ bot.__class__.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ now.__class__.__dict__ }}",
    "{{ (message|attr('__class__')).__mro__ }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_templates_cannot_reach_python_internals(source: str) -> None:
    template = compile_template("evil", "reply", source)
    try:
        out = template.render(message="hi", bot={"name": "Acme"}, now=None, slots={}, attributes={})
    except SecurityError:
        return
    assert "<class" not in out and "uid=" not in out and "__globals__" not in out and out.strip() != "os"


def test_a_rule_with_a_sandbox_escape_answers_without_leaking(console: TestClient, deployment: Deployment) -> None:
    from server.rules_io import import_rules

    rules = "\n".join(
        f"- name: escape{i}\n  priority: {20 + i}\n  when: {{keywords: [escape{i}]}}\n  then: [{{reply: {source!r}}}]"
        for i, source in enumerate(ESCAPES)
    )
    import_rules(deployment.services.runtimes, "acme", rules, merge=True)  # type: ignore[attr-defined]
    for i in range(len(ESCAPES)):
        answer = console.post("/api/v1/bots/acme/messages", json={"text": f"escape{i}"}, headers={"Cookie": ""})
        assert answer.status_code == 200, answer.text
        text = (answer.json()["reply"] or {}).get("text", "")
        assert "<class" not in text and "uid=" not in text and "__globals__" not in text, text
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        assert session.exec(select(Bot).where(Bot.slug == "acme")).one()  # the deployment is intact
