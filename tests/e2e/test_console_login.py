"""A person signs in to the console in Chromium, sees their bots, and signs out; screenshots go to screenshot_dir()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot_dir, server_log
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def demo_login(live_server: str, basetemp: Path) -> tuple[str, str]:
    """The console login the server printed once when it seeded the demo."""
    data = next(basetemp.rglob(f"server-{live_server.rsplit(':', 1)[1]}.log")).parent
    found = re.search(r"Console login \(shown once\): (\S+) / (\S+)", server_log(data, live_server))
    assert found, "the server did not print the demo login"
    return found.group(1), found.group(2)


def test_sign_in_see_the_bots_and_sign_out(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import sync_playwright

    email, password = demo_login(live_server, tmp_path_factory.getbasetemp())
    shots = screenshot_dir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 850})
        page.goto(live_server + "/admin/bots/demo/rules")  # a deep link: sign in first, then land there
        assert page.url.startswith(live_server + "/admin/login?next=")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.locator("[role=alert]").inner_text() == "Wrong e-mail or password."
        page.screenshot(path=str(shots / "console-login-refused.png"))

        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(live_server + "/admin/bots/demo/rules")
        assert "Rules" in page.title() or page.locator("h1").count() > 0
        page.goto(live_server + "/admin/")
        assert page.locator("td", has_text="Northwind Goods").count() == 1
        assert page.locator("header .who").inner_text() == email
        cookie = next(c for c in page.context.cookies() if c["name"] == "frontdesk_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        assert token and page.evaluate("csrfToken()") == token  # what console fetches send as X-CSRF-Token
        page.screenshot(path=str(shots / "console-home.png"))

        page.click("header button:has-text('Sign out')")
        page.wait_for_url(re.compile(r".*/admin/login$"))
        assert not [c for c in page.context.cookies() if c["name"] == "frontdesk_session"]
        page.goto(live_server + "/admin/")
        assert "/admin/login" in page.url  # the old session is gone on the server, not only in the browser
        page.screenshot(path=str(shots / "console-signed-out.png"))
        browser.close()
    assert (shots / "console-home.png").stat().st_size > 0
