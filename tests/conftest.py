"""Shared fixtures: a seeded demo deployment (real packaged models, SQLite in a temp folder)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(data_dir: Path, **overrides):  # type: ignore[no-untyped-def]
    """Settings isolated in data_dir, ignoring the developer's environment and .env."""
    from server.settings import Settings

    return Settings(_env_file=None, data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'fd.db'}", **overrides)


@pytest.fixture(scope="session")
def demo_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Services with the demo bot seeded once per test session."""
    from server.context import Services
    from server.seed import seed_demo

    services = Services.open(make_settings(tmp_path_factory.mktemp("demo")))
    services.seeded = seed_demo(services.runtimes)  # type: ignore[attr-defined]
    yield services
    services.close()


class ConsoleTestClient(TestClient):
    """A TestClient that keeps an explicit Cookie header across same-origin redirects, as a browser keeps its cookie.

    httpx drops the Cookie header on redirects and rebuilds it from the client's jar; the session
    cookie that `auth=SessionAuth(...)` sends is not in the jar, so without this the page a form
    redirects to would be fetched signed out.
    """

    def _redirect_headers(self, request, url, method):  # type: ignore[no-untyped-def]
        headers = super()._redirect_headers(request, url, method)
        if url.origin == request.url.origin and "Cookie" in request.headers:
            headers["Cookie"] = request.headers["Cookie"]
        return headers


@pytest.fixture()
def client(demo_services) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A TestClient on the demo deployment (the lifespan runs; services stay open)."""
    from server.app import create_app

    app = create_app(demo_services.settings, demo_services)
    with ConsoleTestClient(app) as test_client:
        yield test_client


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server (skips where none runs)."""
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"fd_test_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here: the scale path cannot be tested on this machine
        pytest.skip(f"PostgreSQL at 127.0.0.1 not reachable: {exc}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def shop_services(tmp_path: Path) -> Iterator:
    """Services on a fresh database with one bot 'shop', a fake embedding model and no re-ranker: fast."""
    from sqlmodel import Session

    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant
    from tests.fakes import HashEmbedder

    settings = make_settings(tmp_path / "data", knowledge=KnowledgeSettings(reranker="none"))
    services = Services.open(settings)
    services.embedders._models[(settings.knowledge.embedding_model, settings.knowledge.device)] = HashEmbedder()
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    yield services
    services.close()


# --- console sign-in for tests (admin/auth.py: session cookie + CSRF token, or an API key) ---


class SessionAuth:
    """`auth=` for httpx and the TestClient: a console session cookie and its CSRF token on every request."""

    def __init__(self, cookie: str, csrf: str) -> None:
        self.cookie, self.csrf = cookie, csrf

    def __call__(self, request: Any) -> Any:
        """Replace any cookie the client holds with this session's."""
        request.headers["Cookie"] = f"frontdesk_session={self.cookie}"
        request.headers["X-CSRF-Token"] = self.csrf
        return request


class BearerAuth:
    """`auth=` for httpx and the TestClient: an API key as `Authorization: Bearer fd_...`."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: Any) -> Any:
        """Add the Authorization header."""
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


def console_auth(services, email: str) -> SessionAuth:  # type: ignore[no-untyped-def]
    """A signed-in console session for the user with this e-mail, opened straight in the database."""
    from sqlmodel import Session, select

    from admin import sessions
    from server.tables import User

    with Session(services.engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        raw, row = sessions.start(session, user, "127.0.0.1", "pytest")
    return SessionAuth(raw, row.csrf_token)


def api_key_auth(services, email: str, role: str = "admin") -> BearerAuth:  # type: ignore[no-untyped-def]
    """A new API key created by the user with this e-mail."""
    from sqlmodel import Session, select

    from admin import api_keys
    from server.tables import User

    with Session(services.engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        raw, _ = api_keys.create(session, user, f"test key {uuid.uuid4().hex[:6]}", role)
    return BearerAuth(raw)


def web_login(client: Any, email: str, password: str, base: str = "") -> SessionAuth:
    """Sign in through the real form (GET the page for its token, POST it) and read the page's CSRF token."""
    import re

    page = client.get(f"{base}/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token, page.text[:500]
    form_cookie = page.cookies.get("frontdesk_form") or client.cookies.get("frontdesk_form")
    posted = client.post(
        f"{base}/admin/login", data={"email": email, "password": password, "csrf_token": token.group(1)},
        headers={"Cookie": f"frontdesk_form={form_cookie}"}, follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text[:500]
    cookie = posted.cookies["frontdesk_session"]
    home = client.get(f"{base}/admin/", headers={"Cookie": f"frontdesk_session={cookie}"})
    csrf = re.search(r'<meta name="csrf-token" content="([^"]*)">', home.text)
    assert csrf and csrf.group(1), home.text[:500]
    client.cookies.clear()  # the client stays anonymous; the returned auth carries the session
    return SessionAuth(cookie, csrf.group(1))
