"""The console's rules page: list, create, edit, toggle, delete and Try it, all escaped and signed-in."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import Session, select

from server.tables import ReplyRule
from tests.conftest import SessionAuth, console_auth

URL = "/admin/bots/demo/rules"


@pytest.fixture()
def auth(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


def rule_id(demo_services, name: str) -> str | None:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        row = session.exec(select(ReplyRule).where(ReplyRule.name == name)).first()
        return row.id if row else None


def save(client, auth, name: str, definition: object, priority: str = "5", **extra: str):  # type: ignore[no-untyped-def]
    text = definition if isinstance(definition, str) else json.dumps(definition)
    data = {"name": name, "priority": priority, "enabled": "true", "definition": text, **extra}
    return client.post(URL, data=data, auth=auth, follow_redirects=False)


def test_the_page_needs_a_login_and_lists_rules_old_and_new(client, auth) -> None:  # type: ignore[no-untyped-def]
    assert client.get(URL, follow_redirects=False).status_code == 303
    page = client.get(URL, auth=auth)
    assert page.status_code == 200
    assert "human_agent" in page.text and "reply, handoff" in page.text  # an old-shape rule, converted
    assert "order_status_lookup" in page.text and "ask [&#39;order_number&#39;]" in page.text
    assert client.get("/admin/bots/nope/rules", auth=auth).json()["error"]["code"] == "unknown_bot"


def test_create_edit_toggle_delete_and_the_bot_follows_at_once(client, auth, demo_services) -> None:  # type: ignore[no-untyped-def]
    definition = {"when": {"keywords": ["qwxyz"]}, "then": [{"reply": "Rule says hi to {{ message }}"}]}
    created = save(client, auth, "console_rule", definition)
    assert created.status_code == 303 and created.headers["location"].endswith("?notice=saved")
    chat = client.post("/api/v1/bots/demo/messages", json={"text": "qwxyz there"}).json()
    assert chat["reply"]["text"] == "Rule says hi to qwxyz there"  # reloaded without a restart

    rid = rule_id(demo_services, "console_rule")
    editor = client.get(f"{URL}?edit={rid}", auth=auth)
    assert "Edit rule" in editor.text and "qwxyz" in editor.text
    definition["then"] = [{"reply": "Edited"}]
    assert save(client, auth, "console_rule", definition, rule_id=rid).status_code == 303
    assert client.post("/api/v1/bots/demo/messages", json={"text": "qwxyz"}).json()["reply"]["text"] == "Edited"

    toggled = client.post(f"{URL}/{rid}/toggle", auth=auth, follow_redirects=False)
    assert toggled.headers["location"].endswith("notice=disabled")
    assert client.post("/api/v1/bots/demo/messages", json={"text": "qwxyz"}).json()["trace"]["rule"] != "console_rule"

    assert client.post(f"{URL}/{rid}/delete", auth=auth, follow_redirects=False).status_code == 303
    assert rule_id(demo_services, "console_rule") is None
    missing = client.post(f"{URL}/{rid}/delete", auth=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_rule"


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("{not json", "does not parse"),
        ({"when": {"regex": "(oops"}, "then": [{"reply": "x"}]}, "bad regex"),
        ({"when": {"keywords": ["a"]}, "then": [{"reply": "{{ broken "}]}, "bad template in reply"),
        (
            {"when": {"keywords": ["a"]}, "then": [{"http": {"method": "FETCH", "url": "https://x.example"}}]},
            "http.method must be one of",
        ),
        ({"name": "x", "when": {"keywords": ["a"]}, "then": [{"reply": "x"}]}, "set name in the fields"),
        ({"when": {"colour": "red"}, "then": [{"reply": "x"}]}, "unknown condition(s) [&#39;colour&#39;]"),
    ],
)
def test_invalid_rules_are_refused_with_the_error_beside_the_form(client, auth, definition, message) -> None:  # type: ignore[no-untyped-def]
    page = save(client, auth, "broken_rule", definition)
    assert page.status_code == 400
    assert message in page.text
    assert "broken_rule" in page.text  # the form keeps what was typed


def test_a_duplicate_name_is_a_conflict_and_everything_is_escaped(client, auth, demo_services) -> None:  # type: ignore[no-untyped-def]
    evil = "<script>alert(1)</script>"
    definition = {"when": {"keywords": [evil]}, "then": [{"reply": evil}]}
    assert save(client, auth, evil, definition, priority="900").status_code == 303
    try:
        page = client.get(URL, auth=auth)
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
        duplicate = save(client, auth, evil, definition)
        assert duplicate.status_code == 409 and "already exists" in duplicate.text
    finally:
        client.post(f"{URL}/{rule_id(demo_services, evil)}/delete", auth=auth)


def test_try_it_shows_the_firing_rule_and_each_rules_reasons(client, auth) -> None:  # type: ignore[no-untyped-def]
    page = client.post(f"{URL}/try", data={"text": "what's the status of order NW-123456"}, auth=auth)
    assert page.status_code == 200
    assert re.search(r'class="fired">order_status_lookup<', page.text)
    assert "found &#39;status of order&#39;" in page.text  # the passing condition's reason
    assert "wants &#39;greeting&#39;" in page.text  # a failing one of another rule
    assert "status of order NW-123456" in page.text  # the reply preview
    assert "then the knowledge base answers" in page.text
    greeting = client.post(f"{URL}/try", data={"text": "hello there!"}, auth=auth)
    assert re.search(r'class="fired">greeting<', greeting.text)
    bad = client.post(f"{URL}/try", data={"text": "hi", "attributes": "[1]"}, auth=auth)
    assert bad.status_code == 400 and "attributes must be a JSON object" in bad.text
