"""The multilingual companion: chosen only beside an English-only model, saved with the model, optional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.intents import companion
from bot.intents.classifier import IntentClassifier
from tests.fakes import HashEmbedder

TEXTS = ["我要退款", "怎么退钱", "申请退款", "退款多久到账",
         "查询订单", "我的订单在哪里", "帮我查一下物流", "包裹什么时候到"]
LABELS = ["refund"] * 4 + ["track"] * 4


def test_auto_adds_use_for_non_latin_examples_beside_an_english_model_only() -> None:
    english = HashEmbedder()
    chosen = companion.choose(english, "auto", ["where is my order", "我的订单在哪里"])
    assert chosen is not None and chosen.spec == companion.COMPANION_SPEC and chosen.multilingual
    assert companion.choose(english, "auto", ["where is my order", "¿dónde está mi pedido?"]) is None
    assert companion.choose(english, "none", TEXTS) is None
    assert companion.choose(chosen, "auto", TEXTS) is None  # USE itself needs no companion
    assert companion.choose(english, companion.COMPANION_SPEC, ["only english"]) is chosen  # asked for: always
    with pytest.raises(ConfigError, match="cannot load the intent companion"):
        companion.choose(english, "packaged:no-such-model", TEXTS)


def test_companion_vectors_are_appended_and_saved_with_the_model(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    model = IntentClassifier(embedder, method="frozen").fit(TEXTS, LABELS)
    assert model.coef is not None and model.coef.shape[1] == embedder.dim + 512
    assert [p.top for p in model.predict(["我想退款", "我的包裹到哪了"])] == ["refund", "track"]
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["companion"] == companion.COMPANION_SPEC
    loaded = IntentClassifier.load(tmp_path / "m", embedder)
    assert loaded.companion is not None
    assert [(p.intent, round(p.confidence, 5)) for p in loaded.predict(TEXTS)] == [
        (p.intent, round(p.confidence, 5)) for p in model.predict(TEXTS)
    ]


def test_a_model_saved_without_a_companion_loads_without_one(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    model = IntentClassifier(embedder, method="frozen", companion="none").fit(TEXTS, LABELS)
    assert model.companion is None
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["companion"]  # as written before companions existed
    meta_path.write_text(json.dumps(meta))
    loaded = IntentClassifier.load(tmp_path / "m", embedder)
    assert loaded.companion is None and model.coef is not None and model.coef.shape[1] == embedder.dim
    assert [p.top for p in loaded.predict(TEXTS)] == [p.top for p in model.predict(TEXTS)]
