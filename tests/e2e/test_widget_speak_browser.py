"""A bot set to speak "always": a typed widget message in Chromium gets an <audio> player that loads.

The bot is the test's own (`frontdesk bots create` on the session's live server), its *Speak
replies* set through the console form; the page embedding the widget is served by Playwright.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import console_login, screenshot_dir
from tests.e2e.test_console_login import demo_login
from tests.e2e.test_privacy_browser import create_bot
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS
from tests.e2e.test_widget_embed import Shop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt)"),
]
BOT = ".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)"


def test_typed_message_to_an_always_bot_shows_a_player_that_loads(
    live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import sync_playwright

    basetemp = tmp_path_factory.getbasetemp()
    data = next(basetemp.rglob(f"server-{live_server.rsplit(':', 1)[1]}.log")).parent
    slug = f"speak-{uuid.uuid4().hex[:6]}"
    create_bot(data, slug, "Speaking shop")
    auth = console_login(live_server, *demo_login(live_server, basetemp))
    saved = httpx.post(f"{live_server}/admin/bots/{slug}/widget", auth=auth,
                       data={"color": "#1e4f5c", "position": "right", "speak_replies": "always"})
    assert saved.status_code == 303, saved.text
    page_html = httpx.get(f"{live_server}/admin/bots/{slug}/widget", auth=auth).text
    assert re.search(r'<option value="always" selected>', page_html)
    with sqlite3.connect(data / "frontdesk.db") as db:
        (key,) = db.execute("SELECT public_key FROM bot WHERE slug = ?", (slug,)).fetchone()
    html = (f'<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1>'
            f'<script src="{live_server}/widget.js" data-key="{key}" async></script></body></html>')
    shop = Shop()  # the business's site on 127.0.0.1 (a routed public host may not load from a local server)
    shop.pages["/speak"] = html
    messages: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 850})
            page.on("console", lambda m: messages.append(m.text))
            page.goto(f"{shop.origin}/speak")
            page.locator(".fd-launcher").wait_for(timeout=30_000)
            page.evaluate("Frontdesk.open()")
            page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
            page.fill("#fd-input", "Hello, are you open on Sundays?")
            page.keyboard.press("Enter")
            page.wait_for_selector(BOT, timeout=60_000)
            player = page.wait_for_selector(f"{BOT} audio.fd-audio", timeout=60_000)
            src = player.get_attribute("src") or ""
            assert src.startswith(f"{live_server}/api/v1/widget/{key}/voice/") and src.endswith(".mp3")
            assert player.get_attribute("controls") is not None
            duration = player.evaluate(
                "a => new Promise(done => {"
                " if (a.readyState >= 1) return done(a.duration);"
                " a.addEventListener('loadedmetadata', () => done(a.duration));"
                " a.addEventListener('error', () => done(-1)); })"
            )
            assert duration > 0.3, (duration, messages)  # the browser loaded and decoded the MP3
            page.screenshot(path=str(screenshot_dir() / "widget-spoken-reply.png"))
            browser.close()
    finally:
        shop.server.shutdown()
    served = httpx.get(src)
    assert served.status_code == 200 and served.headers["content-type"] == "audio/mpeg"
