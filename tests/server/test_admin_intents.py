"""The console's intents page: examples, CSV upload, background training, versions, labelling from transcripts."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from server.intent_training import store_examples
from server.tables import IntentExample, ReplyRule
from tests.conftest import SessionAuth, console_auth
from tests.server.intent_helpers import HOURS, OOS, REFUND, TRACK, examples, new_bot


@pytest.fixture(autouse=True)
def frozen_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """Versioning is under test here, not the fine-tune (bot/intents tests and bench/ cover it): keep fits fast."""
    monkeypatch.setattr("server.intent_models.DEFAULT_METHOD", "frozen")


def login(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


def wait_for_training(client, slug: str):  # type: ignore[no-untyped-def]
    job = client.app.state.intent_jobs.get(slug)
    job.thread.join(120)
    assert not job.running
    return job


def test_page_requires_login_and_hides_other_tenants(client, demo_services) -> None:
    slug = new_bot(demo_services)
    assert client.get(f"/admin/bots/{slug}/intents", follow_redirects=False).status_code == 303
    page = client.get(f"/admin/bots/{slug}/intents", auth=login(demo_services))
    assert page.status_code == 200 and "No model yet" in page.text
    missing = client.get("/admin/bots/nobody/intents", auth=login(demo_services))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_bot"


def test_add_examples_train_in_background_promote_and_roll_back(client, demo_services) -> None:
    auth, slug = login(demo_services), new_bot(demo_services)
    base = f"/admin/bots/{slug}/intents"
    store_examples(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, oos=OOS))
    added = client.post(f"{base}/examples", data={"intent": "track", "text": "<b>parcel</b> missing?"}, auth=auth)
    assert added.status_code == 200 and "Example added." in added.text  # followed the 303 back to the page
    assert "&lt;b&gt;parcel&lt;/b&gt;" in added.text and "<b>parcel</b>" not in added.text
    duplicate = client.post(f"{base}/examples", data={"intent": "track", "text": "<b>parcel</b> missing?"}, auth=auth)
    assert duplicate.status_code == 409 and "already an example" in duplicate.text
    empty = client.post(f"{base}/examples", data={"intent": "track", "text": "  "}, auth=auth)
    assert empty.status_code == 400 and "empty" in empty.text

    started = client.post(f"{base}/train", data={"promote": "true"}, auth=auth)
    assert started.status_code == 200 and "Training started." in started.text
    job = wait_for_training(client, slug)
    assert job.state == "done" and job.version == 1, job.error
    page = client.get(base, auth=auth)
    assert "Status: <strong>done</strong>" in page.text and 'http-equiv="refresh"' not in page.text
    assert "per-intent scores" in page.text and 'class="heatmap"' in page.text
    assert "cross-validation" in page.text

    store_examples(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, hours=HOURS))
    client.post(f"{base}/train", data={}, auth=auth)  # promote unchecked
    assert wait_for_training(client, slug).version == 2
    assert demo_services.runtimes.get(slug).intents.classes == ["refund", "track"]
    promoted = client.post(f"{base}/versions/2/promote", auth=auth)
    assert promoted.status_code == 200 and "Version promoted" in promoted.text
    assert sorted(demo_services.runtimes.get(slug).intents.classes) == ["hours", "refund", "track"]
    rolled = client.post(f"{base}/rollback", auth=auth)
    assert rolled.status_code == 200 and "Rolled back" in rolled.text
    assert demo_services.runtimes.get(slug).intents.classes == ["refund", "track"]
    again = client.post(f"{base}/rollback", auth=auth)
    assert again.status_code == 400 and "nothing to go back to" in again.text


def test_training_shows_its_status_and_refreshes_while_running(client, demo_services) -> None:
    from server.intent_training import TrainingJob

    auth, slug = login(demo_services), new_bot(demo_services)
    job = TrainingJob(slug, promote=True, state="training", phase="embedding examples", fraction=0.42)
    client.get(f"/admin/bots/{slug}/intents", auth=auth)  # makes the app's job list
    client.app.state.intent_jobs._jobs[slug] = job  # a run in progress, without waiting for a real one
    page = client.get(f"/admin/bots/{slug}/intents", auth=auth)
    assert 'http-equiv="refresh"' in page.text and "embedding examples" in page.text and "42%" in page.text
    busy = client.post(f"/admin/bots/{slug}/intents/train", auth=auth)
    assert busy.status_code == 409 and "already training" in busy.text
    job.state, job.error = "failed", "bot needs examples of at least two intents"
    page = client.get(f"/admin/bots/{slug}/intents", auth=auth)
    assert "failed" in page.text and "at least two intents" in page.text


def test_training_a_bot_without_examples_fails_visibly(client, demo_services) -> None:
    auth, slug = login(demo_services), new_bot(demo_services)
    client.post(f"/admin/bots/{slug}/intents/train", auth=auth)
    job = wait_for_training(client, slug)
    assert job.state == "failed" and "at least two intents" in (job.error or "")


def test_csv_upload_replaces_csv_examples_and_refuses_bad_files(client, demo_services) -> None:
    auth, slug = login(demo_services), new_bot(demo_services)
    url = f"/admin/bots/{slug}/intents/upload"
    csv_text = "text,intent\nwhere is my order,track\n查询订单,track\nrefund please,refund\nsing a song,\n"
    ok = client.post(url, files={"file": ("ex.csv", csv_text.encode(), "text/csv")}, auth=auth)
    assert ok.status_code == 200 and "CSV examples replaced." in ok.text and "查询订单" in ok.text
    bad = client.post(url, files={"file": ("ex.csv", b"text,foo\nhello,bar\n", "text/csv")}, auth=auth)
    assert bad.status_code == 400 and "label column" in bad.text and "/tmp" not in bad.text
    binary = client.post(url, files={"file": ("ex.csv", b"\xff\xfe\x00bad", "text/csv")}, auth=auth)
    assert binary.status_code == 400 and "UTF-8" in binary.text


def test_delete_example(client, demo_services) -> None:
    auth, slug = login(demo_services), new_bot(demo_services)
    text = f"where is order {slug}"
    store_examples(demo_services.runtimes, slug, examples(track=[text]))
    with Session(demo_services.engine) as session:
        example_id = session.exec(select(IntentExample.id).where(IntentExample.text == text)).one()
    gone = client.post(f"/admin/bots/{slug}/intents/examples/{example_id}/delete", auth=auth)
    assert gone.status_code == 200 and "Example deleted." in gone.text
    assert client.post(f"/admin/bots/{slug}/intents/examples/{example_id}/delete", auth=auth).status_code == 404


def test_label_messages_from_a_transcript_and_retrain_with_them(client, demo_services) -> None:
    auth, slug = login(demo_services), new_bot(demo_services)
    store_examples(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND))
    body = client.post(f"/api/v1/bots/{slug}/messages", json={"text": "can I pay with <i>bitcoin</i>?"}).json()
    conversation, message = body["conversation_id"], body["message_id"]
    transcript = client.get(f"/admin/conversations/{conversation}", auth=auth)
    assert "Label as intent" in transcript.text and '<option value="track">' in transcript.text
    url = f"/admin/conversations/{conversation}/messages/{message}/label"
    labelled = client.post(url, data={"intent": "", "new_intent": "payment"}, auth=auth)
    assert labelled.status_code == 200 and "labelled: payment" in labelled.text
    assert "<i>bitcoin</i>" not in labelled.text
    relabelled = client.post(url, data={"intent": "oos"}, auth=auth)  # a second label replaces the first
    assert "labelled: out of scope" in relabelled.text
    with Session(demo_services.engine) as session:
        rows = session.exec(select(IntentExample).where(IntentExample.message_id == message)).all()
    assert [(r.source, r.text) for r in rows] == [("conversation", "can I pay with <i>bitcoin</i>?")]
    client.post(url, data={"intent": "track"}, auth=auth)
    page = client.get(f"/admin/bots/{slug}/intents", auth=auth)
    assert "conversation: 1" in page.text and f"#m-{message}" in page.text
    client.post(f"/admin/bots/{slug}/intents/train", data={"promote": "true"}, auth=auth)
    assert wait_for_training(client, slug).state == "done"
    row = demo_services.runtimes.get(slug)
    assert row.intents is not None
    from server.intent_models import list_models

    assert list_models(demo_services.runtimes, slug)[0].examples == len(TRACK) + len(REFUND) + 1
    refused = client.post(url, data={"intent": "", "new_intent": ""}, auth=auth)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request"
    bot_reply = client.get(f"/api/v1/conversations/{conversation}/messages").json()[-1]["id"]
    wrong = client.post(f"/admin/conversations/{conversation}/messages/{bot_reply}/label", data={"intent": "track"},
                        auth=auth)
    assert wrong.status_code == 404  # only customer messages can be labelled


def test_intent_and_confidence_on_the_trace_drive_a_rule(client, demo_services) -> None:
    slug = new_bot(demo_services)
    store_examples(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, hours=HOURS, oos=OOS))
    from server.intent_models import train_version

    with Session(demo_services.engine) as session:
        from server.store import get_bot

        bot = get_bot(session, slug)
        session.add(ReplyRule(bot_id=bot.id, name="where", priority=1,
                              definition={"intent": "track", "min_confidence": 0.3, "reply": "Tracking: {{ intent }}"}))
        session.commit()
    train_version(demo_services.runtimes, slug)
    body = client.post(f"/api/v1/bots/{slug}/messages", json={"text": "where is my parcel right now?"}).json()
    trace = body["trace"]
    assert trace["intent"] == "track" and 0.3 <= trace["confidence"] <= 1.0
    assert trace["rule"] == "where" and body["reply"]["text"] == "Tracking: track"
    other = client.post(f"/api/v1/bots/{slug}/messages", json={"text": "I want my money refunded"}).json()
    assert other["trace"]["intent"] == "refund" and other["trace"]["rule"] is None
