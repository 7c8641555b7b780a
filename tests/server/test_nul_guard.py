"""NUL characters are refused at the edge (server/text_guard.py), so PostgreSQL never sees one.

PostgreSQL refuses U+0000 in text and JSON columns; without the guard a NUL in a name, a comment or
an attribute ended as a 500. These tests run the app on the real PostgreSQL at 127.0.0.1: every
route of the route table that takes a JSON body or a form gets NUL in every field of its body, and
the websocket gets NUL in every free-text field of its frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from sqlmodel import Session, select

from server.app import create_app
from server.ratelimit import RateLimitSettings
from server.settings import Settings
from server.tables import Bot, Conversation, Feedback, IntentExample, Message, ReplyRule, Tenant
from server.text_guard import find_nul, nul_in_form, nul_in_json
from tests.conftest import console_auth, make_settings
from tests.server.accounts_helpers import add_user

NUL_TEXT = "before\x00after"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def test_find_nul_names_the_field_at_any_depth() -> None:
    assert find_nul({"a": [{"b": "ok"}, {"c": NUL_TEXT}]}) == "body.a.1.c"
    assert find_nul({NUL_TEXT: 1}) == "body (a key)"
    assert find_nul({"a": ["fine", 1, None, True]}) is None
    assert nul_in_json(b'{"name": "x\\u0000y"}') == "body.name"
    assert nul_in_json(b'{"name": "x\\\\u0000y"}') is None  # an escaped backslash, then the letters u0000
    assert nul_in_json(b"not json \\u0000") is None  # left to validation
    assert nul_in_form(b"name=x%00y&b=1") == "form field name"
    assert nul_in_form(b"name=x%2500y") is None  # the text "%00", not a NUL


def body_fields(route: APIRoute) -> tuple[str, dict[str, Any]]:
    """("json" | "data", a body whose every field holds NUL) for a route's declared body."""
    params = route.dependant.body_params
    form = any(type(p.field_info).__name__ in ("Form", "File") for p in params)
    fields: dict[str, Any] = {}
    for param in params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and len(params) == 1 and not form:
            fields.update({name: NUL_TEXT for name in annotation.model_fields})
        else:
            fields[param.alias] = NUL_TEXT
    return ("data" if form else "json"), fields or {"text": NUL_TEXT}


def unsafe_routes() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, body kind, body) of every unsafe route in the app's route table."""
    app = create_app(Settings(_env_file=None, data_dir=Path("/nonexistent")))  # routes only: no lifespan
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            kind, fields = body_fields(route)
            found += [(m, context.path, kind, fields) for m in sorted(context.methods or ()) if m in UNSAFE]
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = unsafe_routes()


@pytest.fixture()
def pg(postgres_url: str, tmp_path: Path) -> Iterator[Any]:
    """Services on a fresh PostgreSQL database: tenant A with bot 'shop', its owner, a conversation."""
    from server.context import Services
    from server.seed import create_bot

    settings = make_settings(tmp_path / "data").model_copy(update={"database_url": postgres_url})
    services = Services.open(settings)
    with Session(services.engine, expire_on_commit=False) as session:
        tenant = Tenant(name="A")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
        conversation = Conversation(bot_id=session.exec(select(Bot.id).where(Bot.slug == "shop")).one())
        session.add(conversation)
        session.commit()
    add_user(services, tenant.id, "owner@a.example", "owner")
    services.conversation_id = conversation.id  # type: ignore[attr-defined]
    yield services
    services.close()


@pytest.fixture()
def pg_client(pg) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = pg.settings.model_copy(update={"rate_limits": RateLimitSettings(enabled=False)})
    with TestClient(create_app(settings, pg)) as client:
        yield client


def fill(path: str, pg: Any) -> str:
    """The path with tenant A's bot and conversation in it (other ids stay placeholders)."""
    values = {"slug": "shop", "bot_slug": "shop", "bot": "shop", "conversation_id": pg.conversation_id}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_postgres_refuses_nul_which_is_why_the_guard_exists(pg) -> None:  # type: ignore[no-untyped-def]
    with Session(pg.engine) as session, pytest.raises(DataError):
        session.add(Feedback(conversation_id=pg.conversation_id, kind="csat", score=5, comment=NUL_TEXT))
        session.commit()


@pytest.mark.parametrize("method,path,kind,body", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_every_unsafe_route_refuses_nul_in_every_body_field(pg, pg_client, method, path, kind, body) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(pg, "owner@a.example")
    for field in body:  # one field at a time, the others clean: each field is checked, not just the first
        one = {k: (v if k == field else "x") for k, v in body.items()}
        response = pg_client.request(method, fill(path, pg), auth=auth, **{kind: one})
        assert response.status_code == 422, (method, path, field, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert error["code"] == "bad_request" and "NUL" in error["message"] and field in error["message"]


@pytest.mark.parametrize(
    "url", ["/api/v1/bots/sh%00op/hours", "/api/v1/conversations/x/messages?q=a%00b", "/kb/shop/a%00b"]
)
def test_nul_in_a_path_or_query_is_refused(pg_client, url: str) -> None:  # type: ignore[no-untyped-def]
    response = pg_client.get(url)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "method,path,kind,body,table",
    [
        (
            "POST",
            "/api/v1/conversations/{conversation_id}/feedback",
            "json",
            {"kind": "csat", "score": 5, "comment": "fine"},
            Feedback,
        ),
        (
            "POST",
            "/admin/bots/{slug}/rules",
            "data",
            {
                "name": "greet",
                "priority": "10",
                "enabled": "true",
                "definition": '{"when": {"keywords": ["hi"]}, "then": [{"reply": "hello"}]}',
            },
            ReplyRule,
        ),
        (
            "POST",
            "/admin/bots/{slug}/intents/examples",
            "data",
            {"intent": "track", "text": "where is it"},
            IntentExample,
        ),
    ],
    ids=["feedback comment", "rule name and definition", "intent example"],
)
def test_the_same_request_without_nul_is_stored(pg, pg_client, method, path, kind, body, table) -> None:  # type: ignore[no-untyped-def]
    """The control: clean, the request reaches PostgreSQL and is stored; with NUL, nothing is."""
    auth = console_auth(pg, "owner@a.example")
    field = next(k for k, v in body.items() if k not in ("kind", "score", "priority", "enabled"))
    dirty = {**body, field: body[field] + "\x00"}
    refused = pg_client.request(method, fill(path, pg), auth=auth, follow_redirects=False, **{kind: dirty})
    assert refused.status_code == 422
    with Session(pg.engine) as session:
        assert session.exec(select(table)).all() == []
    clean = pg_client.request(method, fill(path, pg), auth=auth, follow_redirects=False, **{kind: body})
    assert clean.status_code in (200, 201, 303), clean.text[:300]
    with Session(pg.engine) as session:
        assert len(session.exec(select(table)).all()) == 1


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "hello", "user_name": NUL_TEXT},
        {"type": "hello", "locale": "en\x00"},
        {"type": "message", "id": "m1", "text": NUL_TEXT},
        {"type": "message", "id": "m\x00", "text": "hello"},
        {"type": "feedback", "kind": "csat", "score": 5, "comment": NUL_TEXT},
        {"type": "event", "name": "viewed", "data": {"page": NUL_TEXT}},
        {"type": "event", "name": "viewed", "data": {NUL_TEXT: 1}},
    ],
    ids=["hello name", "hello locale", "message text", "message id", "feedback comment", "event data", "event key"],
)
def test_a_frame_with_nul_gets_an_error_frame_and_the_socket_stays_open(pg, pg_client, frame) -> None:  # type: ignore[no-untyped-def]
    with pg_client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello"})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json(frame)
        error = ws.receive_json()
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    assert error["type"] == "error" and error["code"] == "bad_request" and "NUL" in error["message"], error
    with Session(pg.engine) as session:
        assert session.exec(select(Message)).all() == [] and session.exec(select(Feedback)).all() == []


def test_a_websocket_path_with_nul_is_closed(pg_client) -> None:  # type: ignore[no-untyped-def]
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed, pg_client.websocket_connect("/ws/chat/sh%00op") as ws:
        ws.receive_json()
    assert closed.value.code == 1008
