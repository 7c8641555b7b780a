"""Shared fixtures: a seeded demo deployment (real packaged models, SQLite in a temp folder)."""

from __future__ import annotations

import os
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
