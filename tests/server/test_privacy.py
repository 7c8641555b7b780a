"""Privacy: one customer's data exported and deleted on request, retention purge, redacted storage, log redaction."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from server import privacy, widget
from server.tables import Bot, Conversation, Feedback, IntentExample, Message, User, utcnow
from tests.conftest import SessionAuth, console_auth

CARD = "4111 1111 1111 1111"


@pytest.fixture()
def auth(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


@pytest.fixture(scope="module")
def identity(demo_services) -> str:  # type: ignore[no-untyped-def]
    """The demo bot's identity secret (customer ids must be vouched for by the business)."""
    with Session(demo_services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "demo")).one()
        existing = widget.identity_secret(demo_services.secrets, bot)
        return existing or widget.set_identity_secret(session, demo_services.secrets, bot)


def new_customer(client, identity: str) -> str:  # type: ignore[no-untyped-def]
    """A customer who chats over REST with a verified customer id; returns that id."""
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    body = {
        "text": "How long does shipping take?",
        "client_message_id": "m1",
        "user_id": customer,
        "user_hash": widget.user_hash(identity, customer),
    }
    response = client.post("/api/v1/bots/demo/messages", json=body)
    assert response.status_code == 200, response.text
    return customer


def conversation_of(demo_services, customer: str) -> Conversation | None:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        return session.exec(select(Conversation).where(Conversation.external_user_id == customer)).first()


def test_export_then_delete_one_customer(client, demo_services, auth, identity) -> None:  # type: ignore[no-untyped-def]
    customer, other = new_customer(client, identity), new_customer(client, identity)
    conversation = conversation_of(demo_services, customer)
    assert conversation is not None
    client.post(f"/api/v1/conversations/{conversation.id}/feedback", json={"kind": "csat", "score": 5})

    exported = client.get(f"/api/v1/bots/demo/customers/{customer}/export", auth=auth)
    assert exported.status_code == 200
    data = exported.json()
    (only,) = data["conversations"]
    assert [m["role"] for m in only["messages"]] == ["customer", "bot"]
    assert only["messages"][0]["text"] == "How long does shipping take?"
    assert only["feedback"][0]["score"] == 5

    customer_message = only["messages"][0]["id"]
    label_url = f"/admin/conversations/{conversation.id}/messages/{customer_message}/label"
    assert client.post(label_url, data={"intent": "", "new_intent": "shipping_time"}, auth=auth).status_code == 200

    deleted = client.delete(f"/api/v1/bots/demo/customers/{customer}", auth=auth)
    assert deleted.status_code == 200
    assert deleted.json() == {"conversations": 1, "messages": 2, "feedback": 1}
    assert conversation_of(demo_services, customer) is None
    with Session(demo_services.engine) as session:
        assert session.exec(select(Message).where(Message.conversation_id == conversation.id)).first() is None
        assert session.exec(select(Feedback).where(Feedback.conversation_id == conversation.id)).first() is None
        assert session.exec(select(IntentExample).where(IntentExample.message_id == customer_message)).first() is None
    assert conversation_of(demo_services, other) is not None  # nobody else's data goes

    again = client.get(f"/api/v1/bots/demo/customers/{customer}/export", auth=auth)
    assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_customer"


def test_privacy_routes_need_sign_in_and_a_manager_role(client, demo_services, auth, identity) -> None:  # type: ignore[no-untyped-def]
    customer = new_customer(client, identity)
    assert client.get(f"/api/v1/bots/demo/customers/{customer}/export").status_code == 401
    from argon2 import PasswordHasher

    with Session(demo_services.engine) as session:
        owner = session.exec(select(User).where(User.email == demo_services.seeded.admin_email)).one()
        email = f"viewer-{uuid.uuid4().hex[:6]}@example.com"
        hashed = PasswordHasher().hash("pw-123456")
        session.add(User(tenant_id=owner.tenant_id, email=email, password_hash=hashed, role="viewer"))
        session.commit()
    response = client.delete(f"/api/v1/bots/demo/customers/{customer}", auth=console_auth(demo_services, email))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert conversation_of(demo_services, customer) is not None


def test_retention_purges_only_old_conversations(client, demo_services, auth, identity) -> None:  # type: ignore[no-untyped-def]
    old, fresh = new_customer(client, identity), new_customer(client, identity)
    with Session(demo_services.engine) as session:
        row = session.exec(select(Conversation).where(Conversation.external_user_id == old)).one()
        row.updated_at = utcnow() - timedelta(days=40)
        session.add(row)
        session.commit()
    assert client.put("/api/v1/privacy", json={"retention_days": 30}, auth=auth).status_code == 200
    try:
        done = privacy.purge_expired(demo_services.engine)
        assert done.conversations >= 1
        assert conversation_of(demo_services, old) is None
        assert conversation_of(demo_services, fresh) is not None
    finally:
        client.put("/api/v1/privacy", json={"retention_days": None}, auth=auth)


def test_customer_text_is_stored_redacted_when_the_tenant_says_so(client, demo_services, auth, identity) -> None:  # type: ignore[no-untyped-def]
    assert client.put("/api/v1/privacy", json={"keep_original_text": False}, auth=auth).json() == {
        "retention_days": None,
        "keep_original_text": False,
    }
    try:
        body = {"text": f"my card {CARD} was charged twice", "client_message_id": "m1"}
        response = client.post("/api/v1/bots/demo/messages", json=body)
        assert response.status_code == 200
        with Session(demo_services.engine) as session:
            texts = session.exec(select(Message.text).where(Message.role == "customer")).all()
        assert all(CARD not in t for t in texts)
        assert "my card [CARD] was charged twice" in texts
    finally:
        client.put("/api/v1/privacy", json={"keep_original_text": True}, auth=auth)


def test_log_filter_redacts_records(caplog) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("frontdesk.test.privacy")
    handler_filter = privacy.RedactPii()
    caplog.handler.addFilter(handler_filter)
    try:
        logger.warning("customer %s wrote from %s", "jo@example.com", "+44 20 7946 0958")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert caplog.records[-1].getMessage() == "customer [EMAIL] wrote from [PHONE]"




def test_an_unverified_customer_id_is_refused(client, identity) -> None:  # type: ignore[no-untyped-def]
    body = {"text": "hi", "user_id": "someone-else", "user_hash": "0" * 64}
    response = client.post("/api/v1/bots/demo/messages", json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_invalid"
