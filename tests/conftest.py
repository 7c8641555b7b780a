"""Shared fixtures: a seeded demo deployment (real packaged models, SQLite in a temp folder)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture()
def client(demo_services) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A TestClient on the demo deployment (the lifespan runs; services stay open)."""
    from server.app import create_app

    app = create_app(demo_services.settings, demo_services)
    with TestClient(app) as test_client:
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
