"""Voice recordings are personal data: deleting a customer, or the retention purge, removes them too."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, select

from server import privacy, store, voice_store
from server.tables import Bot, Conversation, Tenant, utcnow


def conversation_with_recording(services, customer: str):  # type: ignore[no-untyped-def]
    """A demo-bot conversation of `customer` with one stored voice note; returns (conversation id, file)."""
    with Session(services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "demo")).one()
        conversation = store.start_conversation(session, bot, "web", customer)
        received = store.receive(session, conversation, voice_store.PLACEHOLDER, f"v-{uuid.uuid4().hex[:6]}")
    data_dir = services.settings.data_dir
    name = voice_store.save(data_dir, bot.id, conversation.id, received.message.id, b"OggS...", ".ogg")
    return conversation.id, voice_store.folder(services.settings.data_dir, bot.id, conversation.id) / name


def test_deleting_a_customer_deletes_their_recordings_and_keeps_others(demo_services) -> None:  # type: ignore[no-untyped-def]
    gone_id, gone_file = conversation_with_recording(demo_services, f"c-{uuid.uuid4().hex[:8]}")
    kept_id, kept_file = conversation_with_recording(demo_services, f"c-{uuid.uuid4().hex[:8]}")
    with Session(demo_services.engine) as session:
        customer = session.get(Conversation, gone_id).external_user_id  # type: ignore[union-attr]
    assert gone_file.is_file() and kept_file.is_file()

    deleted = privacy.delete_customer(demo_services.engine, "demo", customer, demo_services.settings.data_dir)

    assert deleted.conversations == 1 and deleted.messages == 1
    assert not gone_file.exists() and not gone_file.parent.exists()
    assert kept_file.is_file()


def test_the_retention_purge_deletes_expired_recordings(demo_services) -> None:  # type: ignore[no-untyped-def]
    old_id, old_file = conversation_with_recording(demo_services, f"c-{uuid.uuid4().hex[:8]}")
    with Session(demo_services.engine) as session:
        conversation = session.get(Conversation, old_id)
        tenant_id = session.get(Bot, conversation.bot_id).tenant_id  # type: ignore[union-attr]
        tenant = session.get(Tenant, tenant_id)
        before = tenant.retention_days  # type: ignore[union-attr]
        tenant.retention_days = 30  # type: ignore[union-attr]
        conversation.updated_at = utcnow() - timedelta(days=31)  # type: ignore[union-attr]
        session.add_all([tenant, conversation])
        session.commit()
    try:
        done = privacy.purge_expired(demo_services.engine, demo_services.settings.data_dir)
    finally:
        with Session(demo_services.engine) as session:
            tenant = session.get(Tenant, tenant_id)
            tenant.retention_days = before  # type: ignore[union-attr]
            session.add(tenant)
            session.commit()
    assert done.conversations >= 1
    assert not old_file.exists()
