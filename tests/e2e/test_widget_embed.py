"""A person's view of the embedded widget: one script tag on a shop page whose CSS is hostile.

The shop page comes from a small HTTP server of its own (another origin than the Frontdesk
server, both on loopback so Chromium's private-network rules do not interfere), so the config
fetch, the websocket and the origin checks run cross-origin as on a real site.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from tests.e2e.conftest import console_login
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
HOSTILE_CSS = """
* { color: red !important; font-size: 40px !important; font-family: serif !important; }
button { background: lime !important; padding: 30px !important; }
div { display: block !important; border: 5px solid orange; }
"""
BOT = ".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)"


def shop_page(base: str, key: str, head: str = "") -> str:
    """The host page: hostile CSS, an element using the widget's own class names, the one script tag."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>{HOSTILE_CSS}</style>{head}</head>
<body><h1>Shop</h1><p class="fd-msg" id="probe">page text</p>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


class Live:
    """The live server: its URL, data folder, a console login of its own and the demo bot's widget key."""

    def __init__(self, base: str, basetemp: Path) -> None:
        self.base = base
        self.data = next(basetemp.rglob(f"server-{base.rsplit(':', 1)[1]}.log")).parent
        email, password = f"widget-e2e-{uuid.uuid4().hex[:8]}@demo.local", "widget-e2e-password"
        with sqlite3.connect(self.data / "frontdesk.db") as db:
            (tenant,) = db.execute("SELECT tenant_id FROM bot WHERE slug = 'demo'").fetchone()
            db.execute(
                'INSERT INTO "user" (id, tenant_id, email, password_hash, role, created_at) '
                "VALUES (?, ?, ?, ?, 'owner', CURRENT_TIMESTAMP)",
                (f"u_{uuid.uuid4().hex}", tenant, email, PasswordHasher().hash(password)),
            )
        self.auth = console_login(base, email, password)
        self.key = re.search(r'data-key="(pk_[0-9a-f]+)"', httpx.get(base + "/").text).group(1)

    def settings(self, **form: str) -> None:
        """Save the demo widget's settings through the console."""
        response = httpx.post(f"{self.base}/admin/bots/demo/widget", data=form, auth=self.auth)
        assert response.status_code == 303, response.text

    def secret(self) -> str:
        """A new identity secret, from the console."""
        page = httpx.post(f"{self.base}/admin/bots/demo/widget/identity-secret", auth=self.auth).text
        return page.split('id="identity-secret">', 1)[1].split("<", 1)[0]

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.data / "frontdesk.db") as db:
            return db.execute(sql, args).fetchall()


class Shop:
    """The business's website: serves the HTML registered under a path, at 127.0.0.1 and localhost."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{port}"  # allowed
        self.other = f"http://localhost:{port}"  # the same server under another origin: refused
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    site = Shop()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module")
def live(live_server: str, shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    info = Live(live_server, tmp_path_factory.getbasetemp())
    info.settings(color="#aa3300", csat_on_close="true", csat_on_resolve="true", allowed_origins=shop.origin)
    yield info
    info.settings(color="#1e4f5c", csat_on_close="true", csat_on_resolve="true")  # back to any origin


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def open_shop(browser, live: Live, shop: Shop, head: str = "", origin: str = ""):  # type: ignore[no-untyped-def]
    """A fresh browser context on a shop page; window.events records the widget's events.

    Returns the context, the page and the browser console's messages.
    """
    context = browser.new_context(viewport={"width": 1200, "height": 850})
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    path = f"/page-{uuid.uuid4().hex[:8]}"
    shop.pages[path] = shop_page(live.base, live.key, head)
    page.add_init_script("window.events = []; addEventListener('frontdesk:ready', () => "
                         "['open', 'close', 'message', 'ready', 'error'].forEach(n => "
                         "Frontdesk.on(n, d => events.push([n, d]))));")
    page.goto((origin or shop.origin) + path)
    return context, page, messages


def events(page, name: str) -> list:  # type: ignore[no-untyped-def]
    return [d for n, d in page.evaluate("window.events") if n == name]


def test_embedded_widget_is_isolated_and_chats_end_to_end(browser, live: Live, shop: Shop) -> None:
    context, page, _ = open_shop(browser, live, shop)
    launcher = page.locator(".fd-launcher")
    launcher.wait_for(timeout=30_000)
    # CSS isolation, both ways
    style = launcher.evaluate("e => { const s = getComputedStyle(e); return [s.color, s.fontSize, s.backgroundColor] }")
    assert style == ["rgb(255, 255, 255)", "15px", "rgb(170, 51, 0)"]  # the console's colour, not lime
    assert page.locator("#probe").evaluate("e => getComputedStyle(e).paddingTop") == "0px"
    assert page.evaluate("document.querySelectorAll('.fd-launcher').length") == 0  # inside the shadow root
    # open / close through the JS API
    page.evaluate("Frontdesk.open()")
    page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
    assert page.locator("#fd-panel").is_visible() and launcher.get_attribute("aria-expanded") == "true"
    page.evaluate("Frontdesk.close()")
    assert not page.locator("#fd-panel").is_visible()
    assert len(events(page, "open")) == 1 and len(events(page, "close")) == 1
    launcher.click()
    assert page.locator("#fd-input").evaluate("e => e === e.getRootNode().activeElement")
    # a streamed answer with a citation
    page.fill("#fd-input", "How long does standard shipping take?")
    page.keyboard.press("Enter")
    answer = page.wait_for_selector(BOT, timeout=60_000)
    assert "3-5 business days" in answer.inner_text()
    assert "Shipping times" in page.locator(".fd-citations li a").first.inner_text()
    assert events(page, "message")[-1]["role"] == "bot"
    conversation_id = page.evaluate(f"localStorage.getItem('frontdesk:{live.key}:conversation_id')")
    assert live.query("SELECT channel FROM conversation WHERE id = ?", conversation_id) == [("web",)]
    # reload keeps the conversation (and the open panel)
    page.reload()
    page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
    page.wait_for_selector(BOT, timeout=30_000)
    assert "3-5 business days" in page.locator(BOT).first.inner_text()
    assert events(page, "ready")[-1]["conversationId"] == conversation_id
    # a quick reply: the order-status flow (demo rule order_status_lookup) offers "Talk to a person"
    page.fill("#fd-input", "What is my order status?")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.getElementById('frontdesk-widget').shadowRoot"
                           f".querySelectorAll(\"{BOT}\").length >= 2", timeout=60_000)
    page.fill("#fd-input", "NW-123456")
    page.keyboard.press("Enter")
    button = page.locator(".fd-quick-reply", has_text="Talk to a person")
    button.wait_for(timeout=60_000)
    button.click()
    page.locator(".fd-notice", has_text="A person will reply").wait_for(timeout=60_000)
    assert live.query("SELECT status FROM conversation WHERE id = ?", conversation_id) == [("queued",)]
    # closing after a bot reply asks for a rating first (Esc closes)
    page.keyboard.press("Escape")
    page.locator(".fd-csat").wait_for(timeout=10_000)
    assert page.locator("#fd-panel").is_visible()
    page.locator(".fd-csat-score[data-score='4']").click()
    page.fill(".fd-csat-comment", "fast answers")
    page.locator(".fd-csat-send").click()
    page.locator(".fd-csat", has_text="Thanks for your rating").wait_for(timeout=10_000)
    stored = live.query("SELECT score, comment FROM feedback WHERE conversation_id = ? AND kind = 'csat'",
                        conversation_id)
    assert stored == [(4, "fast answers")]
    page.locator(".fd-close").click()
    assert not page.locator("#fd-panel").is_visible()
    # an agent writes while the panel is closed: the unread badge says so
    written = httpx.post(f"{live.base}/api/v1/conversations/{conversation_id}/agent-messages",
                         json={"text": "Hi, Ana here."}, auth=live.auth)
    assert written.status_code == 200
    badge = page.locator(".fd-badge")
    badge.wait_for(state="visible", timeout=10_000)
    assert badge.inner_text() == "1" and "1 unread message" in launcher.get_attribute("aria-label")
    launcher.click()
    assert badge.is_hidden() and page.locator(".fd-msg.fd-agent", has_text="Ana here").is_visible()
    # mobile: under 480px the open panel fills the screen
    page.set_viewport_size({"width": 400, "height": 700})
    box = page.locator("#fd-panel").bounding_box()
    assert box["width"] == 400 and box["height"] == 700
    context.close()


def test_identify_with_a_valid_hash_sets_the_customer_and_a_bad_one_is_refused(
    browser, live: Live, shop: Shop
) -> None:
    secret = live.secret()
    good = hmac.new(secret.encode(), b"cust-77", hashlib.sha256).hexdigest()
    queue = ("<script>window.Frontdesk = []; Frontdesk.push(['identify', "
             "{id: 'cust-77', hash: '%s', name: 'Ana'}]); Frontdesk.push(['open']);</script>")
    context, page, _ = open_shop(browser, live, shop, head=queue % good)
    page.wait_for_function("events.some(([n]) => n === 'ready')", timeout=30_000)
    ready = events(page, "ready")[-1]
    assert ready["customer"] == "cust-77"
    assert live.query("SELECT external_user_id FROM conversation WHERE id = ?", ready["conversationId"]) == [
        ("cust-77",)
    ]
    context.close()
    context, page, _ = open_shop(browser, live, shop, head=queue % ("0" * 64))
    page.wait_for_function("events.some(([n]) => n === 'ready')", timeout=30_000)
    assert events(page, "error")[0]["code"] == "identity_invalid"
    anonymous = events(page, "ready")[-1]
    assert anonymous["customer"] is None and anonymous["conversationId"] != ready["conversationId"]
    assert live.query("SELECT external_user_id FROM conversation WHERE id = ?", anonymous["conversationId"]) == [
        (None,)
    ]
    context.close()


def test_a_page_on_another_origin_gets_no_widget(browser, live: Live, shop: Shop) -> None:
    context, page, messages = open_shop(browser, live, shop, origin=shop.other)
    page.wait_for_function("performance.getEntriesByType('resource').some(e => e.name.includes('/config'))",
                           timeout=30_000)
    page.wait_for_timeout(500)
    assert page.locator(".fd-launcher").count() == 0
    assert any("not allowed" in m for m in messages), messages
    context.close()
