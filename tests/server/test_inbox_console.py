"""The console's agent inbox: the tenant's queued and held conversations, transcripts, polling, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from server.tables import Bot, Conversation, Message, utcnow
from tests.conftest import console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture
SCRIPT = "<script>alert(1)</script>"


def conversation(services, bot_slug: str, status: str, texts: list[str], customer: str = "cust") -> str:  # type: ignore[no-untyped-def]
    """A conversation of the bot with customer messages a minute apart, the last one two minutes ago."""
    with Session(services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == bot_slug)).one()
        row = Conversation(bot_id=bot.id, external_user_id=customer, status=status, channel="web")
        session.add(row)
        session.flush()
        start = utcnow() - timedelta(minutes=1 + len(texts))
        for i, text in enumerate(texts):
            at = start + timedelta(minutes=i)
            session.add(Message(conversation_id=row.id, role="customer", text=text, created_at=at))
        session.commit()
        return row.id


@pytest.fixture()
def convs(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    services = world.services
    return {
        "queued": conversation(services, "shop", "queued", ["hello", f"{SCRIPT} human please"], "alice"),
        "agent": conversation(services, "shop", "agent", ["still there?"], "bob"),
        "bot": conversation(services, "shop", "bot", ["bot only question"], "carol"),
        "other": conversation(services, "other", "queued", ["tenant b secret question"], "dave"),
    }


def test_the_inbox_needs_a_login_and_lists_only_the_tenants_waiting_conversations(app_client, world, convs) -> None:  # type: ignore[no-untyped-def]
    assert app_client.get("/admin/inbox", follow_redirects=False).status_code == 303
    assert app_client.get("/admin/inbox/queue", follow_redirects=False).status_code == 303  # to the sign-in page
    auth = console_auth(world.services, "agent@a.example")
    page = app_client.get("/admin/inbox", auth=auth)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert convs["queued"] in page.text and convs["agent"] in page.text
    assert convs["bot"] not in page.text and "tenant b secret" not in page.text and convs["other"] not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    queue = app_client.get("/admin/inbox/queue", auth=auth).json()
    ids = [c["id"] for c in queue["conversations"]]
    assert set(ids) == {convs["queued"], convs["agent"]} and queue["queued"] == 1
    queued = next(c for c in queue["conversations"] if c["id"] == convs["queued"])
    assert queued["bot"] == "shop" and queued["channel"] == "web" and queued["customer"] == "alice"
    assert queued["last_customer_text"].endswith("human please")
    assert 100 <= queued["waiting_seconds"] <= 200  # the last customer message is two minutes old
    other = app_client.get("/admin/inbox/queue", auth=console_auth(world.services, "owner@b.example")).json()
    assert [c["id"] for c in other["conversations"]] == [convs["other"]]


def test_an_agent_replies_through_the_api_and_the_poll_sees_it(app_client, world, convs) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(world.services, "agent@a.example")
    cid = convs["queued"]
    page = app_client.get(f"/admin/inbox/{cid}", auth=auth)
    assert page.status_code == 200 and 'id="reply"' in page.text and "human please" in page.text
    assert 'data-action="release"' in page.text and 'data-action="resolve"' in page.text
    assert '"X-CSRF-Token": csrfToken()' in page.text and "/api/v1/agents/heartbeat" in page.text
    first = app_client.get(f"/admin/inbox/{cid}/updates", auth=auth).json()
    assert first["status"] == "queued" and [m["text"] for m in first["messages"]][0] == "hello"
    last_id = first["messages"][-1]["id"]
    assert app_client.get(f"/admin/inbox/{cid}/updates", params={"after": last_id}, auth=auth).json()["messages"] == []

    sent = app_client.post(f"/api/v1/conversations/{cid}/agent-messages", json={"text": "On it!"}, auth=auth)
    assert sent.status_code == 200 and sent.json()["status"] == "agent"  # replying takes the conversation
    new = app_client.get(f"/admin/inbox/{cid}/updates", params={"after": last_id}, auth=auth).json()
    assert new["status"] == "agent" and [(m["role"], m["text"]) for m in new["messages"]] == [("agent", "On it!")]
    listed = next(c for c in app_client.get("/admin/inbox/queue", auth=auth).json()["conversations"] if c["id"] == cid)
    assert listed["status"] == "agent" and listed["waiting_seconds"] is None  # answered: nobody waits

    assert app_client.post(f"/api/v1/conversations/{cid}/resolve", auth=auth).json()["status"] == "resolved"
    assert cid not in [c["id"] for c in app_client.get("/admin/inbox/queue", auth=auth).json()["conversations"]]
    assert app_client.get(f"/admin/inbox/{cid}/updates", auth=auth).json()["status"] == "resolved"


def test_a_viewer_reads_without_a_reply_box_and_cannot_answer(app_client, world, convs) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(world.services, "viewer@a.example")
    page = app_client.get(f"/admin/inbox/{convs['queued']}", auth=auth)
    assert page.status_code == 200 and "human please" in page.text
    assert 'id="reply"' not in page.text and "viewers cannot answer" in page.text
    refused = app_client.post(f"/api/v1/conversations/{convs['queued']}/agent-messages", json={"text": "x"}, auth=auth)
    assert refused.status_code == 403


def test_another_tenants_conversation_is_a_404_everywhere(app_client, world, convs) -> None:  # type: ignore[no-untyped-def]
    stranger = console_auth(world.services, "owner@b.example")
    for url in (f"/admin/inbox/{convs['queued']}", f"/admin/inbox/{convs['queued']}/updates", "/admin/inbox/nope"):
        response = app_client.get(url, auth=stranger)
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_conversation"
        assert "human please" not in response.text


def test_answering_from_the_console_session_needs_the_csrf_token(app_client, world, convs) -> None:  # type: ignore[no-untyped-def]
    auth = console_auth(world.services, "agent@a.example")
    cookie_only = {"Cookie": f"frontdesk_session={auth.cookie}"}
    for url, body in ((f"/api/v1/conversations/{convs['queued']}/agent-messages", {"text": "x"}),
                      ("/api/v1/agents/heartbeat", None)):
        response = app_client.post(url, json=body, headers=cookie_only)
        assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert app_client.post("/api/v1/agents/heartbeat", auth=auth).json()["counted"] is True
