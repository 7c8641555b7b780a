"""The embedded widget outlives a server restart: it reconnects on its own and the chat goes on.

A shop page on another origin (a tiny HTTP server of the test's own) carries the one-line embed.
The visitor gets a cited answer, then the `frontdesk serve` process is stopped and started again on
the same port and data folder. Without a page reload the widget reconnects, keeps the conversation
(the server's history is merged, nothing shown twice), delivers a message typed while the server was
down, answers one more, and the visitor rates the chat; the ratings are rows in the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, console_login, restartable_server, screenshot_dir
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS
from tests.e2e.test_widget_embed import BOT, Shop, shop_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
ROOT = "document.getElementById('frontdesk-widget').shadowRoot"
FIRST = "How long does standard shipping take?"
OFFLINE = "Can I return an item I bought?"
THIRD = "Which payment methods do you accept?"


def count(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    """How many elements inside the widget's shadow root match selector (Playwright's locators pierce it too)."""
    return page.evaluate(f"{ROOT}.querySelectorAll({selector!r}).length")


def wait_bot_replies(page, n: int, timeout: int = 90_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until n final bot replies (not the greeting) are on screen."""
    page.wait_for_function(f"{ROOT}.querySelectorAll({BOT!r}).length >= {n}", timeout=timeout)


@pytest.fixture()
def shop() -> Iterator[Shop]:
    site = Shop()
    yield site
    site.server.shutdown()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The server, intents trained the fast way (they are not under test here)."""
    with restartable_server(tmp_path, FRONTDESK_INTENT_METHOD="frozen") as process:
        yield process


def test_widget_reconnects_after_a_restart_keeps_the_chat_and_takes_a_rating(server: ServerProcess,
                                                                            shop: Shop) -> None:
    from playwright.sync_api import sync_playwright

    # FRONTDESK_INTENT_METHOD=frozen was honoured: the demo's intent model is a head on frozen vectors
    assert server.db("SELECT method FROM intentmodel") == [("frozen",)]
    auth = console_login(server.base, *server.demo_login())
    saved = httpx.post(f"{server.base}/admin/bots/demo/widget", auth=auth, data={
        "color": "#1e4f5c", "allowed_origins": shop.origin, "csat_on_close": "true", "csat_on_resolve": "true",
    })
    assert saved.status_code == 303, saved.text[:500]
    key = re.search(r'data-key="(pk_[0-9a-f]+)"', httpx.get(server.base + "/").text).group(1)
    shop.pages["/"] = shop_page(server.base, key)
    shots = screenshot_dir()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1200, "height": 850})
        page = context.new_page()
        page.add_init_script("window.readies = []; addEventListener('frontdesk:ready', () => "
                             "Frontdesk.on('ready', d => readies.push(d)));")
        page.goto(shop.origin + "/")
        page.locator(".fd-launcher").click()
        page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)

        # 1. a cited answer
        page.fill("#fd-input", FIRST)
        page.keyboard.press("Enter")
        wait_bot_replies(page, 1)
        assert "3-5 business days" in page.locator(BOT).first.inner_text()
        assert "Shipping times" in page.locator(".fd-citations li a").first.inner_text()
        conversation = page.evaluate(f"localStorage.getItem('frontdesk:{key}:conversation_id')")
        assert conversation and page.evaluate("readies.length") == 1
        page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
        page.screenshot(path=str(shots / "widget-restart-1-answered.png"))

        # 2. the server goes away; the widget says so and keeps what the visitor typed meanwhile
        assert server.stop() == 0, server.log()[-3000:]
        page.wait_for_selector("#fd-status:text('reconnecting')", timeout=30_000)
        page.fill("#fd-input", OFFLINE)
        page.keyboard.press("Enter")
        page.wait_for_timeout(1500)
        assert count(page, BOT) == 1  # nobody answers while the server is down
        assert page.locator(".fd-msg.fd-customer", has_text=OFFLINE).count() == 1
        page.screenshot(path=str(shots / "widget-restart-2-offline.png"))

        # 3. the same server comes back (same port, same data); the widget reconnects by itself
        server.start()
        page.wait_for_selector("#fd-status:text('connected')", timeout=120_000)
        assert page.evaluate("window.sameDocument") is True
        wait_bot_replies(page, 2)  # the message typed offline was delivered and answered
        readies = page.evaluate("readies")
        assert len(readies) == 2 and readies[-1]["conversationId"] == conversation
        # the history the restarted server sent back is merged, not shown twice
        assert page.locator(".fd-msg.fd-customer", has_text=FIRST).count() == 1
        assert page.locator(".fd-msg.fd-customer", has_text=OFFLINE).count() == 1
        assert page.locator(BOT, has_text="3-5 business days").count() == 1
        stored = server.db("SELECT role, text FROM message WHERE conversation_id = ? ORDER BY created_at",
                           conversation)
        assert [role for role, _ in stored] == ["customer", "bot", "customer", "bot"], stored
        assert stored[2][1] == OFFLINE
        assert server.db("SELECT count(*) FROM conversation") == [(1,)]

        # 4. one more message, answered with citations
        page.fill("#fd-input", THIRD)
        page.keyboard.press("Enter")
        wait_bot_replies(page, 3)
        third = page.locator(BOT).nth(2)
        assert third.locator(".fd-citations li a").count() >= 1, third.inner_text()
        page.screenshot(path=str(shots / "widget-restart-3-reconnected.png"))

        # 5. a thumb on the last answer, then the 1-5 rating the widget asks for on close
        third.locator(".fd-thumb[aria-label='Helpful']").click()
        third.locator(".fd-feedback-thanks").wait_for(timeout=10_000)
        page.keyboard.press("Escape")  # closing asks for the rating first; the panel stays open
        page.locator(".fd-csat").wait_for(timeout=10_000)
        assert page.locator("#fd-panel").is_visible()
        page.locator(".fd-csat-score[data-score='5']").click()
        page.fill(".fd-csat-comment", "still here after the restart")
        page.locator(".fd-csat-send").click()
        page.locator(".fd-csat", has_text="Thanks for your rating").wait_for(timeout=10_000)
        page.screenshot(path=str(shots / "widget-restart-4-rated.png"))
        browser.close()

    (last_reply,) = server.db("SELECT id FROM message WHERE conversation_id = ? AND role = 'bot' "
                              "ORDER BY created_at DESC LIMIT 1", conversation)
    feedback = server.db("SELECT kind, score, comment, message_id FROM feedback WHERE conversation_id = ? "
                         "ORDER BY kind", conversation)
    assert feedback == [("csat", 5, "still here after the restart", None), ("thumb", 1, None, last_reply[0])]
    assert server.starts == 2 and "Traceback" not in server.log()
