"""CSRF: every unsafe cookie request needs the session's token; API keys need none; every form carries it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from admin import TEMPLATES_DIR
from tests.conftest import SessionAuth, api_key_auth, console_auth, web_login
from tests.server import accounts_helpers
from tests.server.accounts_helpers import PASSWORD

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

RULE = {"name": "hours", "priority": "5", "enabled": "true",
        "definition": '{"when": {"keywords": ["hours"]}, "then": [{"reply": "9 to 5"}]}'}


def cookie_only(auth: SessionAuth, token: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"frontdesk_session={auth.cookie}"}
    if token is not None:
        headers["X-CSRF-Token"] = token
    return headers


def test_a_form_post_without_or_with_a_wrong_token_is_refused(app_client, world) -> None:
    auth = web_login(app_client, "owner@a.example", PASSWORD)
    other = web_login(app_client, "admin@a.example", PASSWORD)
    for headers, data in [
        (cookie_only(auth), RULE),
        (cookie_only(auth, "wrong"), RULE),
        (cookie_only(auth, other.csrf), RULE),  # another session's token
        (cookie_only(auth), {**RULE, "csrf_token": ""}),
        (cookie_only(auth), {**RULE, "csrf_token": other.csrf}),
    ]:
        refused = app_client.post("/admin/bots/shop/rules", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"error": {"code": "csrf_failed",
                                            "message": "missing or wrong CSRF token; reload the page and try again"}}
    by_field = app_client.post("/admin/bots/shop/rules", data={**RULE, "csrf_token": auth.csrf},
                               headers=cookie_only(auth), follow_redirects=False)
    assert by_field.status_code == 303
    by_header = app_client.post("/admin/bots/shop/rules", data={**RULE, "name": "hours2"},
                                headers=cookie_only(auth, auth.csrf), follow_redirects=False)
    assert by_header.status_code == 303


def test_cookie_api_calls_need_the_header_and_api_keys_do_not(app_client, world) -> None:
    auth = console_auth(world.services, "owner@a.example")
    body = {"retention_days": 30, "keep_original_text": True}
    assert app_client.put("/api/v1/privacy", json=body, headers=cookie_only(auth)).status_code == 403
    assert app_client.put("/api/v1/privacy", json=body, headers=cookie_only(auth, auth.csrf)).status_code == 200
    key = api_key_auth(world.services, "owner@a.example", "admin")
    assert app_client.put("/api/v1/privacy", json=body, auth=key).status_code == 200
    assert app_client.get("/api/v1/privacy", headers=cookie_only(auth)).status_code == 200  # reads need no token


def test_multipart_uploads_take_the_token_from_the_header_or_the_action_url(app_client, world) -> None:
    auth = console_auth(world.services, "owner@a.example")
    files = [("files", ("a.md", b"# Hours\n\nWe open at nine.", "text/markdown"))]
    url = "/admin/bots/shop/knowledge"
    in_body_only = app_client.post(url, files=files, data={"csrf_token": auth.csrf}, headers=cookie_only(auth))
    assert in_body_only.status_code == 403  # the route streams the body: the token must not be needed from it
    in_query = app_client.post(f"{url}?csrf_token={auth.csrf}", files=files, headers=cookie_only(auth))
    assert in_query.status_code == 200 and "a.md" in in_query.text
    api = app_client.post("/api/v1/bots/shop/documents", files=files, headers=cookie_only(auth))
    assert api.status_code == 403
    assert app_client.post("/api/v1/bots/shop/documents", files=files, auth=auth).status_code == 202


def test_pages_carry_the_sessions_token_in_meta_and_every_form(app_client, world) -> None:
    auth = console_auth(world.services, "owner@a.example")
    for url in ("/admin/bots/shop/rules", "/admin/bots/shop/intents", "/admin/bots/shop/widget",
                "/admin/bots/shop/knowledge", "/admin/users", "/admin/api-keys"):
        page = app_client.get(url, auth=auth)
        assert page.status_code == 200, url
        assert f'<meta name="csrf-token" content="{auth.csrf}">' in page.text
        posts = re.findall(r"<form\b[^>]*method=\"post\"[^>]*>(.{0,120})", page.text, flags=re.S)
        assert posts, url
        for after in posts:
            assert f'name="csrf_token" value="{auth.csrf}"' in after, (url, after)


FORM = re.compile(r"<form\b[^>]*>", re.I)


@pytest.mark.parametrize("template", sorted(p.name for p in Path(TEMPLATES_DIR).glob("*.html")))
def test_every_post_form_in_every_template_carries_a_token(template: str) -> None:
    text = (Path(TEMPLATES_DIR) / template).read_text(encoding="utf-8")
    for match in FORM.finditer(text):
        tag = match.group(0)
        if 'method="post"' not in tag.lower():
            continue
        following = text[match.end(): match.end() + 200]
        assert "csrf_input()" in following or 'name="csrf_token" value="{{ form_token }}"' in following, (template, tag)
        if "multipart/form-data" in tag:
            assert "csrf_query()" in tag, (template, tag)
    for call in re.findall(r"fetch\([^;]*", text):
        assert "X-CSRF-Token" in call, (template, call)
