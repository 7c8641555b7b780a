"""The console's dry run, the language guess and the sentiment scorer behind two conditions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot import language, sentiment
from bot.dryrun import try_rules
from bot.rules import Rule


class Fixed:
    """An intent classifier that always says the same thing."""

    def __init__(self, intent: str, confidence: float) -> None:
        self.intent, self.confidence = intent, confidence

    def predict(self, texts: list[str]) -> list[SimpleNamespace]:
        return [SimpleNamespace(intent=self.intent, confidence=self.confidence) for _ in texts]


def test_dry_run_shows_which_rule_fires_and_why_for_every_rule(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rules = [
        Rule("vip_tag", {"attributes": {"plan": "pro"}}, [{"tag": "vip"}], priority=1),
        Rule("refund_web", {"intent": "refund", "min_confidence": 0.9, "channels": ["web"]},
             [{"reply": "strict"}], priority=5),
        Rule("refund", {"intent": "refund", "min_confidence": 0.5}, [{"reply": "Refunds for {{ tags | join }}"},
                                                                      {"quick_replies": ["Start a return"]}],
             priority=10),
        Rule("off", {"keywords": ["money"]}, [{"reply": "off"}], priority=0, enabled=False),
    ]
    runtime = make_runtime(rules=rules, intents=Fixed("refund", 0.8))

    trial = try_rules(runtime, "I want my money back", attributes={"plan": "pro"}, count=3)

    assert (trial.intent, trial.confidence, trial.message_count) == ("refund", 0.8, 3)
    assert trial.fired == "refund" and trial.applied == ["vip_tag"]
    assert trial.reply == "Refunds for vip"
    assert trial.quick_replies == [{"title": "Start a return", "payload": "Start a return"}]
    assert [e.rule.name for e in trial.evaluations] == ["off", "vip_tag", "refund_web", "refund"]
    off, _, strict, chosen = trial.evaluations
    assert not off.matched and off.checks[0].passed  # disabled, though its keyword is there
    assert [c.passed for c in strict.checks] == [False, True]
    assert "below 0.90" in strict.checks[0].reason
    assert chosen.matched and chosen.checks[0].reason == "intent 'refund' at 0.80 ≥ 0.50"
    assert trial.state.attributes == {"plan": "pro", "tags": ["vip"]}  # on a copy: nothing is stored


def test_dry_run_of_a_flow_and_of_no_match(make_runtime) -> None:  # type: ignore[no-untyped-def]
    flow = Rule("order", {"keywords": ["order status"]},
                [{"ask_slots": {"slots": [{"name": "n", "type": "number", "prompt": "Which order?"}]}}])
    runtime = make_runtime(rules=[flow])
    asked = try_rules(runtime, "order status")
    assert asked.fired == "order" and asked.reply == "Which order?"
    assert asked.flow[-1] == {"step": "asking", "slot": "n"}
    nothing = try_rules(runtime, "hello")
    assert nothing.fired is None and nothing.reply is None and not nothing.knowledge


def test_dry_run_reports_a_template_the_sandbox_refuses(make_runtime) -> None:  # type: ignore[no-untyped-def]
    evil = Rule("evil", {"keywords": ["hi"]}, [{"reply": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}])
    trial = try_rules(make_runtime(rules=[evil]), "hi")
    assert trial.fired == "evil" and trial.error and "SecurityError" in trial.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my order?", "en"),
        ("¿Dónde está mi pedido?", "es"),
        ("Où est ma commande ?", "fr"),
        ("Wo ist meine Bestellung?", "de"),
        ("Onde está o meu pedido?", "pt"),
        ("Waar is mijn bestelling?", "nl"),
        ("我的订单到哪了", "zh"),
        ("订单号 NW-123456 发货了吗", "zh"),
        ("注文はどこですか", "ja"),
        ("주문 어디", "ko"),
        ("Где мой заказ", "ru"),
    ],
)
def test_language_guess(text: str, expected: str) -> None:
    assert language.detect(text).language == expected


def test_language_without_a_signal_uses_the_locale_then_english() -> None:
    assert language.detect("NW-123456", "pt-BR").language == "pt"
    assert language.detect("NW-123456").language == "en"
    assert "no common words" in language.detect("NW-123456").reason
    assert language.detect("123 !!!", "zh-CN").language == "zh"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is the WORST service ever!!!", "negative"),
        ("I am not happy with this", "negative"),
        ("thanks, that was really helpful", "positive"),
        ("not bad at all", "positive"),
        ("How long does shipping take?", "neutral"),
        ("太差了，我要投诉", "negative"),
        ("不满意", "negative"),
        ("谢谢，很满意", "positive"),
    ],
)
def test_sentiment_labels_plain_cases(text: str, label: str) -> None:
    assert sentiment.score(text).label == label
