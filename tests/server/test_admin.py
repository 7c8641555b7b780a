"""The console requires sign-in and escapes everything customers write."""

from __future__ import annotations

from tests.conftest import web_login


def test_console_requires_a_valid_login(client, demo_services) -> None:
    away = client.get("/admin/", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/admin/login?next=%2Fadmin%2F"
    seeded = demo_services.seeded
    auth = web_login(client, seeded.admin_email, seeded.admin_password)
    page = client.get("/admin/", auth=auth)
    assert page.status_code == 200 and "Northwind Goods" in page.text


def test_transcript_shows_trace_and_escapes_customer_text(client, demo_services) -> None:
    seeded = demo_services.seeded
    auth = web_login(client, seeded.admin_email, seeded.admin_password)
    body = client.post("/api/v1/bots/demo/messages", json={"text": "<script>alert('x')</script> refund?"}).json()
    page = client.get(f"/admin/conversations/{body['conversation_id']}", auth=auth)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "latency_ms" in page.text
    listing = client.get("/admin/bots/demo/conversations", auth=auth)
    assert body["conversation_id"] in listing.text
    knowledge = client.get("/admin/bots/demo/knowledge", auth=auth)
    assert "Shipping times" in knowledge.text
