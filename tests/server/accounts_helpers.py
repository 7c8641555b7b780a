"""Fast fixtures for the account tests: two tenants on a fresh database, no real models, no demo seed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.tables import AuditEvent, Bot, Tenant, User
from tests.conftest import ConsoleTestClient

PASSWORD = "correct horse battery"
_HASH = PasswordHasher().hash(PASSWORD)


def add_user(services, tenant_id: str, email: str, role: str = "owner") -> User:  # type: ignore[no-untyped-def]
    """A user of the tenant whose password is PASSWORD."""
    with Session(services.engine, expire_on_commit=False) as session:
        user = User(tenant_id=tenant_id, email=email, password_hash=_HASH, role=role)
        session.add(user)
        session.commit()
        return user


@dataclass
class World:
    """Tenant A (bot 'shop', one user per role) and tenant B (bot 'other', an owner)."""

    services: object
    tenant_a: str
    tenant_b: str
    users: dict[str, User] = field(default_factory=dict)  # "owner", "admin", "agent", "viewer", "b_owner"


def make_world(services) -> World:  # type: ignore[no-untyped-def]
    """Add the users of both tenants to shop_services' database."""
    with Session(services.engine, expire_on_commit=False) as session:
        tenant_a = session.exec(select(Bot).where(Bot.slug == "shop")).one().tenant_id
        other = Tenant(name="Other")
        session.add(other)
        session.commit()
        session.add(Bot(tenant_id=other.id, slug="other", name="Other"))
        session.commit()
    world = World(services, tenant_a, other.id)
    for role in ("owner", "admin", "agent", "viewer"):
        world.users[role] = add_user(services, tenant_a, f"{role}@a.example", role)
    world.users["b_owner"] = add_user(services, other.id, "owner@b.example", "owner")
    return world


@pytest.fixture()
def world(shop_services) -> World:  # type: ignore[no-untyped-def]
    """Two tenants with users of every role."""
    return make_world(shop_services)


@pytest.fixture()
def app_client(shop_services) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A TestClient on shop_services (the lifespan runs; the services stay open)."""
    with ConsoleTestClient(create_app(shop_services.settings, shop_services)) as client:
        yield client


def events(services, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    """Audit events of one action, oldest first."""
    with Session(services.engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.at)).all())
