"""An owner handles a customer's privacy request in Chromium: find them, export their data, delete it.

The server is the session's real `frontdesk serve`; the test gives the demo tenant a bot of its own
(`frontdesk bots create`, so the deletion and the identity secret touch nothing another test uses).
The customer chats through the public REST API as a verified user, with the identity secret the
owner creates on the console's widget page. Screenshots go to screenshot_dir().
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import screenshot_dir
from tests.e2e.test_console_login import demo_login
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
QUESTION = "How long does standard shipping take?"


def create_bot(data: Path, slug: str, name: str = "Privacy shop") -> None:
    """`frontdesk bots create` on the running server's data folder, as an operator would."""
    env = {**os.environ, "FRONTDESK_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("FRONTDESK_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("frontdesk")
    done = subprocess.run([str(exe), "bots", "create", slug, "--name", name], cwd=data, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def chat_as(base: str, slug: str, secret: str, user_id: str, *texts: str) -> str:
    """A verified customer sends texts through the public API (one conversation); returns its id."""
    user_hash = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    conversation_id = None
    with httpx.Client(base_url=base, timeout=120) as client:
        for text in texts:
            body = {"text": text, "conversation_id": conversation_id} if conversation_id else {
                "text": text, "user_id": user_id, "user_hash": user_hash}
            answer = client.post(f"/api/v1/bots/{slug}/messages", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["reply"]["text"]
            conversation_id = answer.json()["conversation_id"]
    assert conversation_id
    return conversation_id


def conversations_in_db(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM conversation")}


def test_owner_finds_exports_and_deletes_a_customer(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import sync_playwright

    shots = screenshot_dir()
    base = live_server
    basetemp = tmp_path_factory.getbasetemp()
    email, password = demo_login(live_server, basetemp)
    data = next(basetemp.rglob(f"server-{live_server.rsplit(':', 1)[1]}.log")).parent
    slug = f"privacy-{uuid.uuid4().hex[:6]}"
    create_bot(data, slug)
    customer, other = f"cust-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        page.goto(base + "/admin/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/?$"))

        # The owner creates the identity secret the business's server signs customer ids with.
        page.goto(f"{base}/admin/bots/{slug}/widget")
        page.click("#identity button[type=submit]")
        secret = page.locator("#identity-secret").inner_text().strip()
        assert secret.startswith("ids_")
        mine = chat_as(base, slug, secret, customer, QUESTION, "Thanks, and returns?")
        theirs = chat_as(base, slug, secret, other, "Do you ship abroad?")
        db = data / "frontdesk.db"
        assert {mine, theirs} <= conversations_in_db(db)

        # Find the customer on the privacy page.
        page.goto(f"{base}/admin/bots/{slug}/privacy")
        page.fill("#customer input[name=customer]", customer)
        page.click("#customer button[type=submit]")
        status = page.locator("#customer p[role=status]").first
        assert status.inner_text() == f"1 conversations stored about {customer}."
        found = page.locator("#customer details.conversation")
        assert found.count() == 1 and mine in found.inner_text() and QUESTION in found.inner_text()
        assert theirs not in page.content()
        page.screenshot(path=str(shots / "privacy-customer-found.png"), full_page=True)

        # Export: a JSON download that holds the customer's own words.
        with page.expect_download() as info:
            page.click("text=Export as JSON")
        download = info.value
        assert download.suggested_filename == f"{slug}-customer-export.json"
        exported = json.loads(Path(download.path()).read_text())
        dumped = json.dumps(exported, ensure_ascii=False)
        assert QUESTION in dumped and mine in dumped and theirs not in dumped
        assert [c["id"] for c in exported["conversations"]] == [mine]

        # A wrong confirmation deletes nothing; the right one deletes everything about the customer.
        page.fill("form.danger input[name=confirm]", "someone else")
        page.click("form.danger button[type=submit]")
        assert "type the customer exactly" in page.locator("form.danger [role=alert]").inner_text()
        assert mine in conversations_in_db(db)
        page.fill("form.danger input[name=confirm]", customer)
        page.click("form.danger button[type=submit]")
        page.wait_for_url(re.compile(rf".*/admin/bots/{slug}/privacy\?notice=deleted$"))
        assert page.locator("p.notice[role=status]").inner_text() == "The customer's data was deleted."
        page.screenshot(path=str(shots / "privacy-customer-deleted.png"), full_page=True)

        remaining = conversations_in_db(db)
        assert mine not in remaining and theirs in remaining  # only this customer's data went
        with sqlite3.connect(db) as connection:
            left = connection.execute("SELECT count(*) FROM message WHERE conversation_id = ?", (mine,)).fetchone()
        assert left == (0,)
        page.goto(f"{base}/admin/bots/{slug}/conversations")
        listing = page.locator("main table").inner_text()
        assert mine not in listing and theirs in listing
        page.goto(f"{base}/admin/bots/{slug}/privacy?customer={customer}")
        assert page.locator("#customer p[role=status]").inner_text() == f"Nothing is stored about {customer}."
        browser.close()
    assert (shots / "privacy-customer-deleted.png").stat().st_size > 0
