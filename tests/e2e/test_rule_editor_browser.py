"""An admin builds a reply rule in the console's editor, checks it with "Try it", and customers get it.

Chromium signs in through the console's form, opens the demo bot's rules page, is refused three
broken rules (each error shown beside the form, the typed fields kept, nothing stored), saves a good
one, dry-runs a message with "Try it" (the rule fires, with the reasons of every rule's conditions),
and then a customer gets the rule's reply over REST and in the widget on the same server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, restartable_server, screenshot_dir
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
REPLY = "We sell gift cards from $10."
GOOD = json.dumps({"when": {"keywords": ["gift card"]}, "then": [{"reply": REPLY}]}, indent=2)
BROKEN = {  # definition -> what the error beside the form says
    '{"when": {"keywords": ["gift card"]}, "then": [': "the rule JSON does not parse",
    '{"when": {"keyword": ["gift card"]}, "then": [{"reply": "x"}]}': "unknown condition(s) ['keyword']",
    '{"when": {"keywords": ["gift card"]}, "then": [{"reply": "{{ amount"}]}': "bad template in reply",
}
BOT_REPLY = ".fd-msg.fd-bot[data-final='true']:not(.fd-greeting)"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own (the widget restart test stops its server); intents trained the fast way."""
    with restartable_server(tmp_path, FRONTDESK_INTENT_METHOD="frozen") as process:
        yield process


def rules_of(server: ServerProcess) -> list[str]:
    """The demo bot's stored rule names."""
    return [name for (name,) in server.db(
        "SELECT r.name FROM replyrule r JOIN bot b ON b.id = r.bot_id WHERE b.slug = 'demo' ORDER BY r.name")]


def fill_rule(page, name: str, priority: str, definition: str) -> None:  # type: ignore[no-untyped-def]
    """Type a rule into the editor and save it."""
    editor = page.locator("form[action='/admin/bots/demo/rules']")
    editor.locator("input[name=name]").fill(name)
    editor.locator("input[name=priority]").fill(priority)
    editor.locator("textarea[name=definition]").fill(definition)
    editor.locator("button[type=submit]").click()
    page.wait_for_load_state()


def try_it(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """Dry-run a message in the Try-it box."""
    box = page.locator("form[action='/admin/bots/demo/rules/try']")
    box.locator("input[name=text]").fill(text)
    box.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_build_a_rule_in_the_editor_try_it_and_chat(server: ServerProcess) -> None:
    from playwright.sync_api import sync_playwright

    email, password = server.demo_login()
    before = rules_of(server)
    assert before and "gift-card" not in before
    shots = screenshot_dir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.base + "/admin/bots/demo/rules")
        assert "/admin/login" in page.url  # signed out: the form first, then back to the rules
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(server.base + "/admin/bots/demo/rules")
        assert page.locator("table.rules tr[data-rule]").count() == len(before)

        # broken rules: refused beside the form, the typed text kept, nothing stored
        editor = page.locator("section.panel", has=page.locator("h2", has_text="New rule"))
        for definition, message in BROKEN.items():
            fill_rule(page, "gift-card", "5", definition)
            error = editor.locator(".error[role=alert]")
            assert message in error.inner_text(), error.inner_text()
            assert editor.locator("textarea[name=definition]").input_value() == definition
            assert editor.locator("input[name=name]").input_value() == "gift-card"
            assert rules_of(server) == before
        page.screenshot(path=str(shots / "rule-editor-refused.png"), full_page=True)

        # a good rule is saved and listed first (priority 5)
        fill_rule(page, "gift-card", "5", GOOD)
        page.locator(".notice", has_text="Rule saved.").wait_for(timeout=10_000)
        assert page.locator(".error[role=alert]").count() == 0
        assert rules_of(server) == sorted([*before, "gift-card"])
        first = page.locator("table.rules tr[data-rule]").first
        assert first.get_attribute("data-rule") == "gift-card"
        assert first.locator("td.when").inner_text() == "keywords=['gift card']"
        assert first.locator("td.then").inner_text() == "reply"
        page.locator("table.rules a", has_text="gift-card").click()  # the editor shows the stored rule
        page.wait_for_load_state()
        assert json.loads(page.locator("textarea[name=definition]").input_value()) == json.loads(GOOD)
        assert page.locator("section.panel h2", has_text="Edit rule").count() == 1

        # Try it: the rule fires, and every rule says why it did or did not match
        try_it(page, "Do you have a gift card?")
        assert page.locator(".trial .fired").inner_text() == "gift-card"
        assert page.locator(".trial pre.reply").inner_text() == REPLY
        fired = page.locator(".trial table.checks tr.fires")
        assert fired.count() == 1 and "gift-card" in fired.inner_text()
        assert "matches" in fired.inner_text()
        assert fired.locator("li.pass", has_text="keywords: found 'gift card'").count() == 1
        others = page.locator(".trial table.checks tr:not(.fires)", has=page.locator("td"))
        assert others.count() == len(before)
        page.screenshot(path=str(shots / "rule-editor-try-it.png"), full_page=True)

        # ... and for a message without the keyword it says why not
        try_it(page, "How long does standard shipping take?")
        assert page.locator(".trial .fired").count() == 0 or page.locator(".trial .fired").inner_text() != "gift-card"
        row = page.locator(".trial table.checks tr", has_text="gift-card")
        assert "no match" in row.inner_text()
        assert row.locator("li.fail", has_text="none of ['gift card'] in the message").count() == 1

        # a bad Try-it field is an error in the Try-it box, not a crash
        box = page.locator("form[action='/admin/bots/demo/rules/try']")
        box.locator("input[name=attributes]").fill("{not json")
        try_it(page, "Do you have a gift card?")
        assert "attributes must be a JSON object" in page.locator("section.panel .error[role=alert]").inner_text()

        # customers get the rule's reply: over REST ...
        answer = httpx.post(f"{server.base}/api/v1/bots/demo/messages", json={"text": "Do you have a gift card?"},
                            timeout=60)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["reply"]["text"] == REPLY
        assert body["trace"]["rule"] == "gift-card"
        assert any("gift card" in reason for reason in body["trace"]["rule_reasons"]), body["trace"]
        # ... and in the widget on the demo page
        page.goto(server.base + "/")
        page.click(".nw-chat-button")
        page.wait_for_selector("#fd-status:text('connected')", timeout=30_000)
        page.fill("#fd-input", "Do you sell a gift card?")
        page.click("#fd-send")
        reply = page.wait_for_selector(BOT_REPLY, timeout=60_000)
        assert REPLY in reply.inner_text()
        page.screenshot(path=str(shots / "rule-editor-widget.png"))
        browser.close()
    assert "Traceback" not in server.log()
