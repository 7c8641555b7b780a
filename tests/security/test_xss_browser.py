"""XSS in the widget, in headless Chromium: hostile text from customers, bot, agent and config stays text.

The server runs in process (uvicorn in a thread) on the two-tenant test deployment. The acme bot's
greeting is a payload, a reply rule echoes the customer's text and offers a quick reply whose title is
a payload, and an agent answers with a payload. Every payload sets `window.__xss` if it ever runs;
the test also fails on any dialog and on any element the payloads would have injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from server.app import create_app
from server.tables import Bot
from tests.e2e.conftest import free_port
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS
from tests.security.conftest import Deployment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
GREETING = '<img src=x onerror="window.__xss=1">Welcome'
CUSTOMER = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=1">',
    "javascript:window.__xss=1",
]
AGENT = "<svg/onload=window.__xss=1><b>agent</b>"
SHADOW = "document.getElementById('frontdesk-widget').shadowRoot"


@pytest.fixture(scope="module")
def live(deployment: Deployment) -> Iterator[str]:
    """The app served on a free loopback port until the module ends."""
    services = deployment.services
    with Session(services.engine) as session:  # type: ignore[attr-defined]
        bot = session.exec(select(Bot).where(Bot.slug == "acme")).one()
        bot.greeting = GREETING
        session.add(bot)
        session.commit()
    port = free_port()
    config = uvicorn.Config(create_app(services.settings, services), host="127.0.0.1", port=port, log_level="warning")  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the in-process server did not start"
        time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join(timeout=30)


def test_hostile_text_is_rendered_as_text_in_the_widget(live: str, deployment: Deployment) -> None:
    from playwright.sync_api import sync_playwright

    from tests.security.helpers import auth_headers

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(live + "/")
        page.evaluate("Frontdesk.open()")
        page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
        greeting = page.wait_for_selector(".fd-msg.fd-greeting", timeout=30_000)
        assert GREETING in greeting.inner_text()
        for n, text in enumerate(["echo " + CUSTOMER[1], *CUSTOMER], start=1):  # the echo first: it gets a bot reply
            page.fill("#fd-input", text)
            page.click("#fd-send")
            page.wait_for_function(  # stored: the ack gave the customer's bubble its message id
                f"{SHADOW}.querySelectorAll('.fd-msg.fd-customer[data-message-id]').length >= {n}", timeout=30_000
            )
            if n == 1:  # the echo's quick reply is shown until the next message is sent
                page.wait_for_function(f"{SHADOW}.querySelectorAll('.fd-quick-reply').length > 0", timeout=30_000)
                assert "<img src=x onerror=window.__xss=1>" in page.locator(".fd-quick-reply").first.inner_text()
                reply = page.locator(".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)").last
                assert CUSTOMER[1] in reply.inner_text()
        conversation = page.evaluate(
            "localStorage.getItem(Object.keys(localStorage).find(k => k.endsWith(':conversation_id')))"
        )
        with httpx.Client(base_url=live) as api:
            headers = auth_headers(_ClientShim(deployment))
            path = f"/api/v1/conversations/{conversation}/agent-messages"
            sent = api.post(path, json={"text": AGENT}, headers=headers)
            assert sent.status_code == 200, sent.text
        page.wait_for_function(
            f"Array.from({SHADOW}.querySelectorAll('.fd-msg')).some(n => n.textContent.includes('<b>agent</b>'))",
            timeout=30_000,
        )
        page.reload()  # history comes back from the server and is rendered the same way
        page.evaluate("Frontdesk.open()")
        page.wait_for_function(f"{SHADOW}.querySelectorAll('.fd-msg.fd-customer').length >= {len(CUSTOMER) + 1}",
                               timeout=30_000)
        injected = page.evaluate(
            f"[...document.querySelectorAll('img,script[src=\"x\"],svg,iframe'), "
            f"...{SHADOW}.querySelectorAll('.fd-msg img, .fd-msg script, .fd-msg svg, .fd-msg b, .fd-msg iframe, "
            f"a[href^=\"javascript:\"]')].length"
        )
        fired = page.evaluate("window.__xss === 1")
        browser.close()
    assert injected == 0
    assert not fired and dialogs == []


class _ClientShim:
    """Just enough of a TestClient for auth_headers: the app state's services."""

    def __init__(self, deployment: Deployment) -> None:
        self.app = type("App", (), {"state": type("State", (), {"services": deployment.services})})()
