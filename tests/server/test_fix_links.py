"""The metrics page's fix links land on prefilled pages (knowledge, intents, rules), and the prefilled forms work.

Each test runs the real app on a fresh SQLite database (shop_services: bot 'shop', a fast fake
embedder) with the lifespan, so the knowledge answer is queued, ingested and searched for real.
The customer's question carries markup, to show it is escaped wherever it is shown.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, col, select

from admin.prefill import MAX_PREFILL, prefill
from server.intent_training import MAX_EXAMPLE_CHARS
from server.tables import AuditEvent, Bot, Chunk, Conversation, Document, IntentExample, Message, ReplyRule
from tests.conftest import SessionAuth, console_auth
from tests.server import accounts_helpers
from tests.server.accounts_helpers import World

QUESTION = "<script>alert(1)</script> Can I bring my dog to the showroom?"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; Can I bring my dog to the showroom?"
ANSWER = "Yes: well-behaved dogs on a leash are welcome in the showroom, every day except Sunday."
KB, INTENTS, RULES = "/admin/bots/shop/knowledge", "/admin/bots/shop/intents", "/admin/bots/shop/rules"
app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture


@pytest.fixture()
def owner(world: World) -> SessionAuth:
    return console_auth(world.services, "owner@a.example")


def unanswered(services, text: str) -> None:  # type: ignore[no-untyped-def]
    """A conversation of bot 'shop' today whose question got the fallback reply."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    with Session(services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        conversation = Conversation(bot_id=bot.id, channel="web")
        session.add(conversation)
        session.commit()
        customer = Message(conversation_id=conversation.id, role="customer", text=text, created_at=now)
        session.add(customer)
        session.add(Message(
            conversation_id=conversation.id, role="bot", text="Sorry, I don't know.", reply_to=customer.id,
            status="sent", fallback=True, trace={"latency_ms": {}}, created_at=now + timedelta(seconds=1),
        ))
        session.commit()


def field_value(page: str, name: str) -> str:
    """The value attribute of the first input with this name, unescaped as a browser reads it."""
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', page
    )
    assert found, f"no input {name!r} with a value"
    return html.unescape(found.group(1))


def documents(services) -> list[Document]:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        return list(session.exec(select(Document).order_by(col(Document.slug))).all())


def test_the_metrics_links_open_each_page_with_the_question_escaped_and_prefilled(
    app_client, world: World, owner: SessionAuth
) -> None:
    unanswered(world.services, QUESTION)
    metrics = app_client.get("/admin/bots/shop/metrics", auth=owner)
    assert metrics.status_code == 200, metrics.text[:300]
    links = {m.group(2): html.unescape(m.group(1)) for m in re.finditer(
        r'href="(/admin/bots/shop/(knowledge|intents|rules)\?[^"]+)"', metrics.text
    )}
    assert set(links) == {"knowledge", "intents", "rules"}, links

    knowledge = app_client.get(links["knowledge"], auth=owner)
    assert knowledge.status_code == 200 and "<script>alert(1)" not in knowledge.text
    notice = knowledge.text.split('class="notice customers-asked"', 1)[1].split("</p>", 1)[0]
    assert f"<q>{ESCAPED}</q>" in notice
    assert '<details id="add-answer" class="answer-entry" open>' in knowledge.text
    assert field_value(knowledge.text, "question") == QUESTION
    tester = re.search(r'id="search-tester-link" href="([^"]+)"', knowledge.text)
    assert tester and html.unescape(tester.group(1)).startswith(f"{KB}/search?q=%3Cscript%3Ealert")

    intents = app_client.get(links["intents"], auth=owner)
    assert urlsplit(links["intents"]).fragment == "add-example"
    assert intents.status_code == 200 and '<form id="add-example"' in intents.text
    assert "<script>alert(1)" not in intents.text and f'value="{ESCAPED}"' in intents.text
    assert field_value(intents.text, "text") == QUESTION and field_value(intents.text, "intent") == ""

    rules = app_client.get(links["rules"], auth=owner)
    assert rules.status_code == 200 and "<script>alert(1)" not in rules.text
    hint = rules.text.split('class="notice customers-asked"', 1)[1].split("</p>", 1)[0]
    assert f"<q>{ESCAPED}</q>" in hint
    try_box = rules.text.split('action="/admin/bots/shop/rules/try"', 1)[1].split("</form>", 1)[0]
    assert field_value(try_box, "text") == QUESTION


def test_pages_without_the_parameter_are_unchanged(app_client, world: World, owner: SessionAuth) -> None:
    knowledge = app_client.get(KB, auth=owner).text
    assert "customers-asked" not in knowledge and '<details id="add-answer" class="answer-entry">' in knowledge
    assert f'id="search-tester-link" href="{KB}/search"' in knowledge  # the tester is always one click away
    assert field_value(app_client.get(RULES, auth=owner).text, "text") == ""
    intents = app_client.get(INTENTS, auth=owner).text
    assert '<form id="add-example"' in intents and field_value(intents, "text") == ""


def test_the_prefilled_answer_form_adds_a_searchable_article(app_client, world: World, owner: SessionAuth) -> None:
    page = app_client.get(KB, params={"question": QUESTION}, auth=owner)
    question = field_value(page.text, "question")
    posted = app_client.post(f"{KB}/answers", data={"question": question, "answer": ANSWER}, auth=owner,
                             follow_redirects=False)
    assert posted.status_code == 303, posted.text[:500]
    location = posted.headers["location"]
    slug = r"qa-scriptalert1script-can-i-bring-my-dog-[a-z-]*-[0-9a-f]{6}"  # from the question, plus a digest
    assert re.fullmatch(rf"{KB}\?added={slug}#documents", location), location
    (doc,) = documents(world.services)
    assert doc.title == QUESTION and doc.source.endswith(".md")
    assert app_client.app.state.ingest.wait([doc.id], 60)
    (doc,) = documents(world.services)
    assert doc.status == "ready" and doc.error is None and doc.title == QUESTION
    with Session(world.services.engine) as session:
        chunks = session.exec(select(Chunk).where(Chunk.document_id == doc.id)).all()
    assert chunks and any("leash" in c.text for c in chunks)

    landed = app_client.get(location, auth=owner)
    assert landed.status_code == 200 and f"Answer added as “{ESCAPED}”" in landed.text
    row = landed.text.split(f'<tr data-slug="{doc.slug}">', 1)[1].split("</tr>", 1)[0]
    assert '<span class="ready">' in row and ESCAPED in row and "<script>" not in row
    search = app_client.get(f"{KB}/search", params={"q": "dogs on a leash in the showroom"}, auth=owner)
    first = search.text.split("<tr data-document=", 1)[1].split("</tr>", 1)[0]
    assert ESCAPED in first and "leash" in first, search.text[:2000]
    article = app_client.get(doc.url)
    assert article.status_code == 200 and ANSWER in article.text and "<script>alert(1)" not in article.text
    events = [e for e in audit_events(world.services) if e.action == "knowledge.answer"]
    assert len(events) == 1 and events[0].target == f"shop/{doc.slug}"

    # the same question again replaces the answer rather than adding a second article
    again = app_client.post(f"{KB}/answers", data={"question": f"  {question} ", "answer": "Only guide dogs."},
                            auth=owner, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == location
    (replaced,) = documents(world.services)
    assert replaced.id == doc.id and app_client.app.state.ingest.wait([doc.id], 60)
    assert "Only guide dogs." in app_client.get(doc.url).text


def audit_events(services) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        return list(session.exec(select(AuditEvent)).all())


def test_the_answer_form_refuses_what_it_should_and_keeps_what_was_typed(
    app_client, world: World, owner: SessionAuth
) -> None:
    empty = app_client.post(f"{KB}/answers", data={"question": QUESTION, "answer": "  \n "}, auth=owner)
    assert empty.status_code == 400 and "type the answer" in empty.text
    assert field_value(empty.text, "question") == QUESTION
    assert '<details id="add-answer" class="answer-entry" open>' in empty.text
    no_question = app_client.post(f"{KB}/answers", data={"question": "\t", "answer": ANSWER}, auth=owner)
    assert no_question.status_code == 400 and "type the customer&#39;s question" in no_question.text
    assert f">{ANSWER}</textarea>" in no_question.text
    long = app_client.post(f"{KB}/answers", data={"question": "q" * (MAX_PREFILL + 1), "answer": "a"}, auth=owner)
    assert long.status_code == 400 and f"at most {MAX_PREFILL}" in long.text
    viewer = console_auth(world.services, "viewer@a.example")
    page = app_client.get(KB, params={"question": QUESTION}, auth=viewer)
    assert page.status_code == 200 and field_value(page.text, "question") == QUESTION  # viewers may look
    refused = app_client.post(f"{KB}/answers", data={"question": QUESTION, "answer": ANSWER}, auth=viewer)
    assert refused.status_code == 403 and "viewers cannot change knowledge" in refused.text
    entry = {"question": QUESTION, "answer": ANSWER}
    other = console_auth(world.services, "owner@b.example")
    assert app_client.post(f"{KB}/answers", data=entry, auth=other).status_code == 404
    assert app_client.post(f"{KB}/answers", data=entry, follow_redirects=False).status_code in (303, 401, 403)
    assert documents(world.services) == []


def test_the_prefilled_example_form_adds_the_example(app_client, world: World, owner: SessionAuth) -> None:
    page = app_client.get(INTENTS, params={"example": QUESTION}, auth=owner)
    text = field_value(page.text, "text")
    added = app_client.post(f"{INTENTS}/examples", data={"intent": "showroom_visit", "text": text}, auth=owner)
    assert added.status_code == 200 and "Example added." in added.text  # followed the 303 back to the page
    with Session(world.services.engine) as session:
        stored = session.exec(select(IntentExample)).all()
    assert [(e.text, e.source) for e in stored] == [(QUESTION, "console")]
    # a refused example keeps what was typed, so nothing has to be copied from the metrics page again
    duplicate = app_client.post(f"{INTENTS}/examples", data={"intent": "showroom_visit", "text": text}, auth=owner)
    assert duplicate.status_code == 409 and "already an example" in duplicate.text
    assert field_value(duplicate.text, "text") == QUESTION and field_value(duplicate.text, "intent") == "showroom_visit"


def test_the_training_status_carries_its_state(app_client, world: World, owner: SessionAuth) -> None:
    app_client.post(f"{INTENTS}/train", auth=owner)  # no examples: the run fails at once, visibly
    job = app_client.app.state.intent_jobs.get("shop")
    job.thread.join(60)
    page = app_client.get(INTENTS, auth=owner).text
    assert f'<p class="job-status" data-state="{job.state}">' in page and job.state == "failed"


def test_the_prefilled_try_box_runs_and_the_message_stays_through_saving_a_rule(
    app_client, world: World, owner: SessionAuth
) -> None:
    page = app_client.get(RULES, params={"text": QUESTION}, auth=owner)
    try_box = page.text.split('action="/admin/bots/shop/rules/try"', 1)[1].split("</form>", 1)[0]
    text, asked = field_value(try_box, "text"), field_value(try_box, "asked")
    tried = app_client.post(f"{RULES}/try", data={"text": text, "asked": asked}, auth=owner)
    assert tried.status_code == 200 and "No rule fires" in tried.text and "customers-asked" in tried.text

    editor = page.text.split('action="/admin/bots/shop/rules">', 1)[1].split("</form>", 1)[0]
    definition = '{"when": {"keywords": ["dog"]}, "then": [{"reply": "Dogs on a leash are welcome."}]}'
    saved = app_client.post(
        RULES, data={"name": "dogs", "priority": "10", "enabled": "true", "definition": definition,
                     "asked": field_value(editor, "asked")},
        auth=owner, follow_redirects=False,
    )
    assert saved.status_code == 303 and "notice=saved" in saved.headers["location"]
    back = app_client.get(saved.headers["location"], auth=owner)
    assert "Rule saved." in back.text and f"<q>{ESCAPED}</q>" in back.text
    again = back.text.split('action="/admin/bots/shop/rules/try"', 1)[1].split("</form>", 1)[0]
    fired = app_client.post(f"{RULES}/try", data={"text": field_value(again, "text")}, auth=owner)
    assert fired.status_code == 200 and '<span class="fired">dogs</span>' in fired.text
    with Session(world.services.engine) as session:
        assert [r.name for r in session.exec(select(ReplyRule)).all()] == ["dogs"]


@pytest.mark.parametrize("url", [KB, INTENTS, RULES])
def test_bad_values_never_fail_a_page(app_client, world: World, owner: SessionAuth, url: str) -> None:
    name = {KB: "question", INTENTS: "example", RULES: "text"}[url]
    assert app_client.get(f"{url}?{name}=a%00b", auth=owner).status_code == 422  # server/text_guard.py
    for raw in ("%FF%FE", "%ED%A0%80", "%E2%80%AE%0A%09", "%20%20"):  # bad UTF-8, a lone surrogate, bidi + control
        page = app_client.get(f"{url}?{name}={raw}", auth=owner)
        assert page.status_code == 200, (raw, page.text[:300])
        assert "\u202e" not in page.text
    shown = app_client.get(url, params={name: "line one\r\nline\ttwo\u202e" + "x" * 9000}, auth=owner)
    assert shown.status_code == 200
    limit = MAX_EXAMPLE_CHARS if url == INTENTS else MAX_PREFILL
    value = field_value(shown.text, "text" if url != KB else "question")
    assert value == ("line one line two" + "x" * 9000)[:limit]
    assert app_client.get(f"{url}?{name}=x", follow_redirects=False).status_code == 303  # signed out: to the login
    other = console_auth(world.services, "owner@b.example")
    assert app_client.get(url, params={name: "x"}, auth=other).status_code == 404


def test_a_long_question_still_opens_the_search_tester(app_client, world: World, owner: SessionAuth) -> None:
    page = app_client.get(KB, params={"question": "shipping " * 300}, auth=owner)
    link = html.unescape(re.search(r'id="search-tester-link" href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert len(link) < 2000
    tester = app_client.get(link, auth=owner)
    assert tester.status_code == 200 and 'class="search-verdict' in tester.text  # the search ran
    back = re.search(r'class="write-answer" href="([^"]+)"', tester.text)
    assert back and html.unescape(back.group(1)).startswith(f"{KB}?question=shipping+shipping")


def test_prefill_cleans_customer_text() -> None:
    assert prefill(None) == "" and prefill("") == "" and prefill(" \x01\n ") == ""
    assert prefill("  where\tis\r\nmy\x0border?  ") == "where is my order?"
    assert prefill("a\u202eb\u2066c\ud800d\ue000e") == "abcde"
    assert prefill("请问 营业时间？") == "请问 营业时间？"
    assert prefill("ab " * 10, limit=5) == "ab ab"
    assert len(prefill("x" * 10_000)) == MAX_PREFILL


def test_a_very_long_message_is_dropped_from_the_redirect_not_the_rule(
    app_client, world: World, owner: SessionAuth
) -> None:
    definition = '{"when": {"keywords": ["营业"]}, "then": [{"reply": "九点开门。"}]}'
    data = {"name": "hours_zh", "priority": "10", "enabled": "true", "definition": definition}
    data["asked"] = "营业时间" * 500
    saved = app_client.post(RULES, data=data, auth=owner, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{RULES}?notice=saved"
    short = app_client.post(RULES, data={**data, "name": "hours_zh2", "asked": "营业时间？"}, auth=owner,
                            follow_redirects=False)
    assert short.headers["location"] == f"{RULES}?notice=saved&text=%E8%90%A5%E4%B8%9A%E6%97%B6%E9%97%B4%EF%BC%9F"
