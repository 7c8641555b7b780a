"""Path traversal: upload names never choose where a file lands, and no route serves a file outside its folder."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.tables import Bot, Document
from tests.security.conftest import Deployment
from tests.security.helpers import auth_headers

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HOSTILE_NAMES = [
    "../../escape-one.md",
    "/tmp/escape-two.md",
    "..\\..\\escape-three.md",
    "....//....//escape-four.md",
    "%2e%2e%2fescape-five.md",
    "escape-six.md\x00.png",
    "escape-seven.\x00md",
    "escape-eight." + "x" * 300,
]


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def files_named(root: Path, fragment: str) -> list[Path]:
    return [p for p in root.rglob("*") if fragment in p.name]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[f"name{i}" for i in range(len(HOSTILE_NAMES))])
def test_a_document_upload_name_cannot_leave_the_upload_folder(
    client: TestClient, deployment: Deployment, name: str
) -> None:
    files = {"files": (name, io.BytesIO(b"# Escape\n\nStill inside."), "text/markdown")}
    response = client.post("/api/v1/bots/acme/documents?wait=true", files=files, headers=auth_headers(client))
    assert response.status_code < 500, response.text
    data_dir = deployment.services.settings.data_dir  # type: ignore[attr-defined]
    for root in (deployment.folder.parent, Path("/tmp"), data_dir.parent):
        for path in files_named(root, "escape-"):
            assert path.resolve().is_relative_to(data_dir.resolve()), path
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        for document in session.exec(select(Document).where(Document.source.contains("escape-"))).all():
            assert "/" not in document.source and "\\" not in document.source and ".." not in document.slug


def test_a_widget_upload_name_is_only_a_label(client: TestClient, deployment: Deployment) -> None:
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        bot = session.exec(select(Bot).where(Bot.slug == "acme")).one()
        bot.widget = {**(bot.widget or {}), "uploads": True}
        session.add(bot)
        session.commit()
        key = bot.public_key
    conversation = client.post("/api/v1/bots/acme/messages", json={"text": "hello"}).json()["conversation_id"]
    for name in ("../../../widget-escape.png", "/etc/widget-escape.png", "..\\widget-escape.png"):
        answer = client.post(f"/api/v1/widget/{key}/uploads?conversation_id={conversation}",
                             files={"file": (name, io.BytesIO(PNG), "image/png")})
        assert answer.status_code == 201, answer.text
        url = answer.json()["url"]
        assert url.rsplit("/", 1)[1].startswith("f_") and "escape" not in url
        served = client.get(url)
        assert served.status_code == 200 and served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
    assert not files_named(deployment.folder.parent, "widget-escape")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../server/settings.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/static/..%5c..%5cpyproject.toml",
        "/static/%00widget.js",
        "/static//etc/passwd",
        "/kb/acme/..%2f..%2fpyproject.toml",
        "/kb/..%2facme/returns",
        "/api/v1/widget/{key}/uploads/..%2f..%2ffd.db",
        "/api/v1/widget/{key}/uploads/%2e%2e",
        "/api/v1/widget/{key}/uploads/..png",
        "/api/v1/widget/{key}/uploads/x%00.png",
        "/api/v1/widget/{key}/uploads/fd.db%00.png",
    ],
)
def test_file_routes_serve_nothing_outside_their_folder(client: TestClient, deployment: Deployment, path: str) -> None:
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        key = session.exec(select(Bot).where(Bot.slug == "acme")).one().public_key
    response = client.get(path.replace("{key}", key))
    assert response.status_code in (400, 404, 422), (response.status_code, response.text[:200])  # 422: NUL refused
    assert "FRONTDESK" not in response.text and "[project]" not in response.text and "root:" not in response.text
