"""The widget in Simplified Chinese (data-locale="zh-CN") and the console's language switcher, in Chromium."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import console_login, screenshot_dir
from tests.e2e.test_console_login import demo_login
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SHADOW = "document.getElementById('frontdesk-widget').shadowRoot"


def demo_key(base: str) -> str:
    """The demo bot's public widget key, read from the demo page's embed snippet."""
    with urllib.request.urlopen(base + "/", timeout=30) as response:  # noqa: S310 - the local test server
        page = response.read().decode()
    found = re.search(r'data-key="(pk_[^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def test_data_locale_picks_the_widget_language(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    # A page of "another site" embedding the widget with data-locale. Playwright serves it, so Chromium's
    # local-network checks keep its websocket from reaching 127.0.0.1: this test looks at the panel only.
    shop = live_server + "/zh-shop.html"
    html = (
        '<!doctype html><html lang="zh-CN"><body><h1>商店</h1>'
        f'<script src="/widget.js" data-key="{demo_key(live_server)}" data-locale="zh-CN" async></script></body></html>'
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="en-US")
        page.route(shop, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html))
        page.goto(shop)
        page.wait_for_function("window.Frontdesk && window.Frontdesk.version", timeout=30_000)
        page.evaluate("Frontdesk.open()")
        page.locator("#fd-input").wait_for(timeout=30_000)
        assert page.locator("#fd-input").get_attribute("placeholder") == "有什么可以帮你？"
        assert page.locator(".fd-close").get_attribute("aria-label") == "关闭聊天"
        assert page.locator("#fd-send").get_attribute("aria-label") == "发送消息"
        # Frontdesk.setLocale switches the open panel back to English without a reload.
        page.evaluate("Frontdesk.setLocale('en-GB')")
        assert page.locator("#fd-input").get_attribute("placeholder") == "Ask us anything…"
        browser.close()


def test_widget_chats_and_asks_for_a_rating_in_chinese(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 850}, locale="en-US")
        page.goto(live_server + "/?lang=zh-CN")  # the demo page calls Frontdesk.setLocale before the widget loads
        page.click(".nw-chat-button")
        page.wait_for_selector("#fd-status:text('已连接')", timeout=30_000)
        assert page.locator("#fd-input").get_attribute("placeholder") == "有什么可以帮你？"

        page.fill("#fd-input", "How long does standard shipping take?")
        page.click("#fd-send")
        answer = page.locator(".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)").first
        answer.wait_for(timeout=60_000)
        assert "3-5 business days" in answer.inner_text()  # the bot's own words are not translated
        assert answer.locator(".fd-thumb").first.get_attribute("aria-label") == "有帮助"

        page.keyboard.press("Escape")  # closing after a bot reply asks for the rating, in Chinese
        card = page.locator(".fd-csat")
        card.wait_for(timeout=10_000)
        assert card.locator(".fd-csat-title").inner_text() == "你如何评价这次对话？"
        assert card.locator(".fd-csat-skip").inner_text() == "跳过"
        assert card.locator(".fd-csat-score[data-score='5']").get_attribute("aria-label") == "5 分（满分 5 分），非常好"
        card.locator(".fd-csat-score[data-score='4']").click()
        card.locator(".fd-csat-send").click()
        page.locator(".fd-csat", has_text="感谢你的评分！").wait_for(timeout=10_000)
        page.screenshot(path=str(screenshot_dir() / "widget-zh.png"))
        browser.close()


def test_console_language_switcher_sets_a_cookie(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import sync_playwright

    session = console_login(live_server, *demo_login(live_server, tmp_path_factory.getbasetemp())).cookie
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(locale="en-US")
        context.add_cookies([{"name": "frontdesk_session", "value": session, "url": live_server}])
        page = context.new_page()
        page.goto(live_server + "/admin/")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Bots"
        with page.expect_navigation():
            page.select_option("#lang-switch", "zh-CN")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "机器人"
        assert page.locator("header nav a", has_text="收件箱").count() == 1
        page.goto(live_server + "/admin/inbox")  # the choice sticks
        assert page.locator("h1").inner_text() == "收件箱"
        browser.close()
