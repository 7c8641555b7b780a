"""A person's view: the demo page in headless Chromium chats with the demo bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot_dir

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_visitor_asks_and_sees_a_cited_streamed_answer(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    # Playwright gives the browser a fresh temporary profile of its own.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 850})
        page.goto(live_server + "/")
        page.click(".nw-chat-button")  # the demo page opens the widget through Frontdesk.open()
        page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
        page.fill("#fd-input", "How long does standard shipping take?")
        page.click("#fd-send")
        answer = page.wait_for_selector(".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)", timeout=60_000)
        assert "3-5 business days" in answer.inner_text()
        link = page.locator(".fd-citations li a").first
        assert "Shipping times" in link.inner_text()
        page.fill("#fd-input", "<img src=x onerror=alert(1)>")
        page.click("#fd-send")
        page.wait_for_function(
            "document.getElementById('frontdesk-widget').shadowRoot"
            ".querySelectorAll(\".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)\").length >= 2",
            timeout=60_000,
        )
        assert page.locator(".fd-msg.fd-customer img").count() == 0
        page.screenshot(path=str(screenshot_dir() / "widget-answer.png"))
        # A reload resumes the conversation from the server's history.
        page.reload()
        page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
        page.wait_for_function(
            "document.getElementById('frontdesk-widget').shadowRoot"
            ".querySelectorAll('.fd-msg.fd-customer').length >= 2",
            timeout=30_000,
        )
        page.goto(live_server + "/kb/demo/shipping-times#standard-shipping")
        assert page.locator("#standard-shipping").is_visible()
        browser.close()
