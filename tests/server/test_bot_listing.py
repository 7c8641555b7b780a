"""GET /api/v1/bots: signed-in callers only, and only their tenant's bots; the widget needs none of it."""

from __future__ import annotations

from sqlmodel import Session, select

from server.tables import Bot
from tests.conftest import api_key_auth, console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture


def test_anonymous_callers_get_401(app_client, world) -> None:  # type: ignore[no-untyped-def]
    response = app_client.get("/api/v1/bots")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert "shop" not in response.text and "other" not in response.text


def test_each_tenant_lists_only_its_own_bots(app_client, world) -> None:  # type: ignore[no-untyped-def]
    tenant_a = app_client.get("/api/v1/bots", auth=console_auth(world.services, "viewer@a.example"))
    tenant_b = app_client.get("/api/v1/bots", auth=console_auth(world.services, "owner@b.example"))
    by_key = app_client.get("/api/v1/bots", auth=api_key_auth(world.services, "owner@a.example", "viewer"))
    assert [b["slug"] for b in tenant_a.json()] == ["shop"]
    assert [b["slug"] for b in tenant_b.json()] == ["other"]
    assert by_key.status_code == 200 and by_key.json() == tenant_a.json()


def test_the_widget_still_finds_its_bot_by_public_key_without_sign_in(app_client, world) -> None:  # type: ignore[no-untyped-def]
    with Session(world.services.engine) as session:
        key = session.exec(select(Bot.public_key).where(Bot.slug == "shop")).one()
    config = app_client.get(f"/api/v1/widget/{key}/config")
    assert config.status_code == 200, config.text
    with app_client.websocket_connect(f"/ws/widget/{key}") as ws:
        ws.send_json({"type": "hello"})
        assert ws.receive_json()["bot"]["slug"] == "shop"
