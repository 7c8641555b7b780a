"""The console privacy page: what is stored, retention settings, find / export / delete one customer, roles, audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from server import voice_store
from server.tables import Bot, ChannelDelivery, Conversation, Feedback, Intent, IntentExample, Message, Tenant
from tests.conftest import console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture
PAGE = "/admin/bots/shop/privacy"


def add_customer(services, customer: str | None, text: str, email: str | None = None) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    """A shop conversation of `customer` with a customer message, a bot reply, feedback, a labelled
    example and a voice recording; returns (conversation id, recording path)."""
    with Session(services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        attributes = {"email": email, "name": "Ada Example"} if email else {}
        conversation = Conversation(bot_id=bot.id, external_user_id=customer, attributes=attributes)
        session.add(conversation)
        session.flush()
        asked = Message(conversation_id=conversation.id, role="customer", text=text)
        answer = Message(conversation_id=conversation.id, role="bot", text="It left the warehouse today.")
        session.add_all([asked, answer])
        session.flush()
        intent = session.exec(select(Intent).where(Intent.bot_id == bot.id, Intent.name == "privacy-test")).first()
        if intent is None:
            intent = Intent(bot_id=bot.id, name="privacy-test")
            session.add(intent)
            session.flush()
        session.add_all(
            [
                Feedback(
                    bot_id=bot.id,
                    conversation_id=conversation.id,
                    message_id=answer.id,
                    kind="thumb",
                    score=1,
                    comment="great",
                ),
                IntentExample(intent_id=intent.id, text=text, source="console", message_id=asked.id),
            ]
        )
        session.commit()
        name = voice_store.save(services.settings.data_dir, bot.id, conversation.id, asked.id, b"OggS...", ".ogg")
        return conversation.id, voice_store.folder(services.settings.data_dir, bot.id, conversation.id) / name


def counts(services, conversation_ids: list[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows left for these conversations."""
    with Session(services.engine) as session:
        messages = session.exec(select(Message.id).where(Message.conversation_id.in_(conversation_ids))).all()  # type: ignore[attr-defined]
        return {
            "conversations": len(session.exec(select(Conversation).where(Conversation.id.in_(conversation_ids))).all()),  # type: ignore[attr-defined]
            "messages": len(messages),
            "feedback": len(session.exec(select(Feedback).where(Feedback.conversation_id.in_(conversation_ids))).all()),  # type: ignore[attr-defined]
            "examples": len(session.exec(select(IntentExample).where(IntentExample.text.like("%parcel 7%"))).all()),  # type: ignore[attr-defined]
            "deliveries": len(
                session.exec(select(ChannelDelivery).where(ChannelDelivery.message_id.in_(messages))).all()
            ),  # type: ignore[attr-defined]
        }


@pytest.fixture()
def owner(world):  # type: ignore[no-untyped-def]
    return console_auth(world.services, "owner@a.example")


def test_the_page_shows_what_is_stored_and_the_retention_settings(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    add_customer(world.services, "tg-1", "where is parcel 7?")
    page = app_client.get(PAGE, auth=owner)
    assert page.status_code == 200
    assert "What is stored" in page.text and "Voice recordings" in page.text
    assert "No retention window" in page.text and 'name="retention_days"' in page.text
    assert 'name="csrf_token"' in page.text or "csrf" in page.text
    assert '/admin/bots/shop/privacy"' in page.text  # the nav link from base.html


def test_roles_viewers_look_agents_have_no_access(app_client, world) -> None:  # type: ignore[no-untyped-def]
    conversation_id, recording = add_customer(world.services, "tg-2", "where is parcel 7?")
    viewer = console_auth(world.services, "viewer@a.example")
    agent = console_auth(world.services, "agent@a.example")
    look = app_client.get(PAGE, params={"customer": "tg-2"}, auth=viewer)
    assert look.status_code == 200 and "where is parcel 7?" in look.text
    assert "Delete this customer" not in look.text and "Only owners and admins can delete" in look.text
    assert app_client.get(f"{PAGE}/customers/tg-2/export", auth=viewer).status_code == 200
    refused = app_client.post(f"{PAGE}/customers/tg-2/delete", data={"confirm": "tg-2"}, auth=viewer)
    assert refused.status_code == 403 and recording.is_file()
    assert app_client.post(f"{PAGE}/settings", data={"retention_days": "5"}, auth=viewer).status_code == 403
    assert app_client.get(PAGE, auth=agent).status_code == 403
    assert app_client.get(f"{PAGE}/customers/tg-2/export", auth=agent).status_code == 403
    assert app_client.post(f"{PAGE}/customers/tg-2/delete", data={"confirm": "tg-2"}, auth=agent).status_code == 403
    assert counts(world.services, [conversation_id])["messages"] == 2
    stranger = console_auth(world.services, "owner@b.example")
    assert app_client.get(PAGE, params={"customer": "tg-2"}, auth=stranger).status_code == 404


def test_find_by_email_then_export_has_every_conversation_and_is_audited(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    first, _ = add_customer(world.services, "web-9", "where is parcel 7?", email="Ada@Example.com")
    second, _ = add_customer(world.services, "web-9", "and my refund?")  # same person, no e-mail attribute
    other, _ = add_customer(world.services, "web-10", "someone else entirely")
    found = app_client.get(PAGE, params={"customer": "ada@example.com"}, auth=owner)
    assert found.status_code == 200
    assert "where is parcel 7?" in found.text and "and my refund?" in found.text
    assert "someone else entirely" not in found.text
    assert "/admin/bots/shop/privacy/customers/ada%40example.com/export" in found.text

    export = app_client.get(f"{PAGE}/customers/ada@example.com/export", auth=owner)
    assert export.status_code == 200 and export.headers["content-disposition"].startswith("attachment")
    data = json.loads(export.text)
    assert data["bot"] == "shop" and data["customers"] == ["web-9"]
    assert {c["id"] for c in data["conversations"]} == {first, second}
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert "where is parcel 7?" in texts and "and my refund?" in texts and "someone else entirely" not in texts
    by_id = {c["id"]: c for c in data["conversations"]}
    assert by_id[first]["attributes"]["email"] == "Ada@Example.com"
    assert by_id[first]["feedback"][0]["comment"] == "great"
    assert by_id[first]["recordings"][0]["file"].endswith(".ogg")
    assert [e.target for e in accounts_helpers.events(world.services, "privacy.export")] == ["shop/ada@example.com"]
    assert accounts_helpers.events(world.services, "privacy.lookup")
    assert app_client.get(f"{PAGE}/customers/nobody/export", auth=owner).status_code == 404
    assert counts(world.services, [other])["messages"] == 2


def test_delete_removes_everything_of_one_customer_in_one_confirmed_action(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    gone_a, recording_a = add_customer(world.services, "wx-1", "where is parcel 7?")
    gone_b, recording_b = add_customer(world.services, "wx-1", "parcel 7 again")
    kept, kept_recording = add_customer(world.services, "wx-2", "hello")

    wrong = app_client.post(f"{PAGE}/customers/wx-1/delete", data={"confirm": "wx-"}, auth=owner)
    assert wrong.status_code == 400 and "type the customer exactly" in wrong.text
    assert counts(world.services, [gone_a, gone_b])["conversations"] == 2

    done = app_client.post(
        f"{PAGE}/customers/wx-1/delete", data={"confirm": "wx-1"}, auth=owner, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith("notice=deleted")
    left = counts(world.services, [gone_a, gone_b])
    assert left == {"conversations": 0, "messages": 0, "feedback": 0, "examples": 0, "deliveries": 0}
    assert not recording_a.exists() and not recording_b.exists()
    assert kept_recording.is_file() and counts(world.services, [kept])["messages"] == 2
    [event] = accounts_helpers.events(world.services, "privacy.delete")
    assert event.target == "shop/wx-1" and event.actor == "owner@a.example"
    assert event.details == {"conversations": 2, "messages": 4, "feedback": 2, "recordings": 2}
    shown = app_client.get(done.headers["location"], auth=owner).text
    assert "data was deleted." in shown, shown[shown.find("<h1>") : shown.find("<h1>") + 300]
    again = app_client.post(f"{PAGE}/customers/wx-1/delete", data={"confirm": "wx-1"}, auth=owner)
    assert again.status_code == 404


def test_delete_by_conversation_id_of_an_anonymous_visitor(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    anonymous, recording = add_customer(world.services, None, "parcel 7 please")
    done = app_client.post(
        f"{PAGE}/customers/{anonymous}/delete", data={"confirm": anonymous}, auth=owner, follow_redirects=False
    )
    assert done.status_code == 303
    assert counts(world.services, [anonymous])["conversations"] == 0 and not recording.exists()


@pytest.mark.parametrize("days", ["0", "3651", "soon", "-2"])
def test_a_bad_retention_window_is_shown_and_changes_nothing(app_client, world, owner, days: str) -> None:  # type: ignore[no-untyped-def]
    response = app_client.post(
        f"{PAGE}/settings", data={"retention_days": days, "keep_original_text": "true"}, auth=owner
    )
    assert response.status_code == 400 and "from 1 to 3650" in response.text
    with Session(world.services.engine) as session:
        assert session.get(Tenant, world.tenant_a).retention_days is None  # type: ignore[union-attr]


def test_saving_settings_changes_the_tenant_and_is_audited(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    saved = app_client.post(f"{PAGE}/settings", data={"retention_days": "30"}, auth=owner, follow_redirects=False)
    assert saved.status_code == 303
    with Session(world.services.engine) as session:
        tenant = session.get(Tenant, world.tenant_a)
        assert tenant is not None and tenant.retention_days == 30 and tenant.keep_original_text is False
    page = app_client.get(saved.headers["location"], auth=owner).text
    assert "untouched for 30 days are deleted" in page and "Privacy settings saved." in page
    assert "customer text with personal data redacted" in page
    [event] = accounts_helpers.events(world.services, "privacy.settings")
    assert event.details == {"retention_days": 30, "keep_original_text": False}
    cleared = app_client.post(
        f"{PAGE}/settings",
        data={"retention_days": "", "keep_original_text": "true"},
        auth=owner,
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    with Session(world.services.engine) as session:
        tenant = session.get(Tenant, world.tenant_a)
        assert tenant is not None and tenant.retention_days is None and tenant.keep_original_text is True


def test_the_page_escapes_what_customers_wrote(app_client, world, owner) -> None:  # type: ignore[no-untyped-def]
    add_customer(world.services, "x-<b>", "<script>alert(1)</script> parcel 7")
    page = app_client.get(PAGE, params={"customer": "x-<b>"}, auth=owner).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x-<b>" not in page


def test_finding_by_email_works_on_postgresql(postgres_url: str) -> None:
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from admin.privacy_page import find_customer

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        SQLModel.metadata.create_all(engine)
        with Session(engine, expire_on_commit=False) as session:
            tenant = Tenant(name="T")
            session.add(tenant)
            session.flush()
            bot = Bot(tenant_id=tenant.id, slug="pg-shop", name="Shop")
            session.add(bot)
            session.flush()
            wanted = Conversation(bot_id=bot.id, external_user_id="web-1", attributes={"email": "Ada@Example.com"})
            by_id = Conversation(bot_id=bot.id, external_user_id="ADA@example.com")
            other = Conversation(bot_id=bot.id, external_user_id="web-2", attributes={"email": "bob@example.com"})
            session.add_all([wanted, by_id, other])
            session.commit()
            found = {c.id for c in find_customer(session, bot, "ada@example.COM")}
            assert found == {wanted.id, by_id.id}
            assert [c.id for c in find_customer(session, bot, other.id)] == [other.id]
            assert find_customer(session, bot, "  ") == []
    finally:
        engine.dispose()
