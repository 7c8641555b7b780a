"""An owner disables a colleague on the console's users page in Chromium, and enables them again.

The colleague is created from the shell (`frontdesk users create`, on the running server's
database), so the audit page shows the shell's actor ("cli:<os user>") beside the owner's.
While disabled the colleague's right password is refused exactly like a wrong one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from admin.operator_accounts import cli_actor
from tests.e2e.conftest import screenshot_dir
from tests.e2e.test_console_login import demo_login
from tests.e2e.test_widget_browser import CHROMIUM, FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

AGENT = "dana.disabled@example.com"
AGENT_PASSWORD = "dana's long passphrase"


def frontdesk(data: Path, *args: str, password: str | None = None) -> str:
    """Run the `frontdesk` command on the server's data folder; its standard output."""
    env = {**os.environ, "FRONTDESK_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("FRONTDESK_DATABASE_URL", None)
    if password is not None:
        env["FRONTDESK_PASSWORD"] = password
    exe = Path(sys.executable).with_name("frontdesk")
    done = subprocess.run([str(exe), *args], cwd=data, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sign_in(page, base: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_owner_disables_and_enables_a_user(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import sync_playwright

    basetemp = tmp_path_factory.getbasetemp()
    owner_email, owner_password = demo_login(live_server, basetemp)
    data = next(basetemp.rglob(f"server-{live_server.rsplit(':', 1)[1]}.log")).parent
    tenant = next(r["tenant_id"] for r in json.loads(frontdesk(data, "users", "list", "--json"))
                  if r["email"] == owner_email)
    frontdesk(data, "users", "create", AGENT, "--tenant", tenant, "--role", "agent", password=AGENT_PASSWORD)
    shots = screenshot_dir()
    row = f'tr[data-user="{AGENT}"]'
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        owner = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        agent = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        sign_in(agent, live_server, AGENT, AGENT_PASSWORD)
        agent.wait_for_url(live_server + "/admin/")

        sign_in(owner, live_server, owner_email, owner_password)
        owner.wait_for_url(live_server + "/admin/")
        owner.goto(live_server + "/admin/users")
        assert owner.locator(row).get_attribute("data-status") == "active"
        assert owner.locator(f'tr[data-user="{owner_email}"] button:has-text("Disable")').count() == 0
        owner.click(f'{row} button:has-text("Disable")')
        owner.wait_for_url(live_server + "/admin/users?notice=disabled")
        assert owner.locator(row).get_attribute("data-status") == "disabled"
        assert owner.locator(f"{row} .badge.disabled").inner_text() == "disabled"
        assert owner.locator(f'{row} button:has-text("Enable")').count() == 1
        owner.screenshot(path=str(shots / "users-disabled.png"), full_page=True)

        agent.goto(live_server + "/admin/")  # the agent's open session ended with the disable
        assert "/admin/login" in agent.url
        sign_in(agent, live_server, AGENT, AGENT_PASSWORD)
        assert agent.locator("[role=alert]").inner_text() == "Wrong e-mail or password."
        agent.screenshot(path=str(shots / "users-disabled-sign-in-refused.png"))

        owner.click(f'{row} button:has-text("Enable")')
        owner.wait_for_url(live_server + "/admin/users?notice=enabled")
        assert owner.locator(row).get_attribute("data-status") == "active"
        sign_in(agent, live_server, AGENT, AGENT_PASSWORD)
        agent.wait_for_url(live_server + "/admin/")

        owner.goto(live_server + "/admin/audit")
        cells = owner.locator("table.audit tr").all_inner_texts()
        mine = [c for c in cells if AGENT in c]
        assert any("user.disable" in c and owner_email in c for c in mine), mine
        assert any("user.enable" in c and owner_email in c for c in mine), mine
        assert any("user.create" in c and cli_actor() in c for c in mine), mine
        owner.screenshot(path=str(shots / "users-audit.png"), full_page=True)
        browser.close()
    assert (shots / "users-disabled.png").stat().st_size > 0
