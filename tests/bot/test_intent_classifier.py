"""IntentClassifier: a logistic head on (fake) embeddings, with a tuned out-of-scope threshold."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from bot.intents.classifier import IntentClassifier
from tests.fakes import HashEmbedder

POOLS = {
    "refund": ["refund", "money", "back", "reimburse", "charge", "cash"],
    "shipping": ["shipping", "delivery", "parcel", "courier", "track", "package"],
    "account": ["password", "login", "account", "reset", "username", "locked"],
}
GENERIC = ["please", "help", "need", "question", "today", "thanks", "hello", "urgent"]
OFF_TOPIC = [
    "weather",
    "poem",
    "football",
    "recipe",
    "movie",
    "guitar",
    "planet",
    "joke",
    "dinosaur",
    "pizza",
]

IN_SCOPE_TESTS = [
    ("refund my money back please", "refund"),
    ("track my parcel delivery", "shipping"),
    ("reset my password, account locked", "account"),
]
OUT_OF_SCOPE_TESTS = [
    "tell me a joke please",
    "what is the weather today",
    "write a poem about pizza",
]


def dataset() -> tuple[list[str], list[str], list[str]]:
    """In-scope texts and labels (some deliberately ambiguous), and out-of-scope texts."""
    rng = random.Random(0)
    texts: list[str] = []
    labels: list[str] = []
    for intent, words in POOLS.items():
        for _ in range(8):
            texts.append(" ".join(rng.sample(words, 2) + rng.sample(GENERIC, 2)))
            labels.append(intent)
        for other in POOLS:
            if other != intent:  # an example that mentions another intent's words too
                texts.append(
                    " ".join([rng.choice(words), rng.choice(POOLS[other]), *rng.sample(GENERIC, 2)])
                )
                labels.append(intent)
    oos = [" ".join([*rng.sample(OFF_TOPIC, 2), rng.choice(GENERIC)]) for _ in range(10)]
    return texts, labels, oos


@pytest.fixture(scope="module")
def trained() -> tuple[IntentClassifier, IntentClassifier]:
    """The same intents trained without and with out-of-scope rows."""
    texts, labels, oos = dataset()
    without = IntentClassifier(HashEmbedder()).fit(texts, labels)
    with_oos = IntentClassifier(HashEmbedder()).fit(texts + oos, labels + [OUT_OF_SCOPE] * len(oos))
    return without, with_oos


def test_fit_learns_the_intents(trained: tuple[IntentClassifier, IntentClassifier]) -> None:
    _, classifier = trained

    predictions = classifier.predict([t for t, _ in IN_SCOPE_TESTS])

    assert classifier.classes == ["account", "refund", "shipping"]
    assert [p.intent for p in predictions] == [label for _, label in IN_SCOPE_TESTS]
    assert all(p.top == p.intent for p in predictions)
    assert all(classifier.threshold <= p.confidence <= 1 for p in predictions)


def test_oos_rows_raise_the_threshold_so_off_topic_texts_get_oos(
    trained: tuple[IntentClassifier, IntentClassifier],
) -> None:
    without, with_oos = trained

    assert with_oos.threshold > without.threshold
    assert with_oos.calibration["with_oos"] is True
    assert without.calibration["with_oos"] is False
    assert [p.intent for p in with_oos.predict(OUT_OF_SCOPE_TESTS)] == [OUT_OF_SCOPE] * 3
    assert any(p.intent != OUT_OF_SCOPE for p in without.predict(OUT_OF_SCOPE_TESTS))


def test_an_oos_prediction_still_names_the_top_intent(
    trained: tuple[IntentClassifier, IntentClassifier],
) -> None:
    _, classifier = trained

    prediction = classifier.predict(["write a poem about pizza"])[0]

    assert prediction.intent == OUT_OF_SCOPE
    assert prediction.top in classifier.classes
    assert prediction.confidence < classifier.threshold


@pytest.mark.parametrize("intents", [["refund", "shipping", "account"], ["refund", "shipping"]])
def test_confidences_are_the_logistic_regressions_probabilities(intents: list[str]) -> None:
    texts, labels, _ = dataset()
    rows = [i for i, label in enumerate(labels) if label in intents]
    texts, labels = [texts[i] for i in rows], [labels[i] for i in rows]
    embedder = HashEmbedder()
    queries = [t for t, _ in IN_SCOPE_TESTS] + OUT_OF_SCOPE_TESTS

    classifier = IntentClassifier(embedder).fit(texts, labels)
    reference = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(
        embedder.encode(texts), labels
    )

    expected = reference.predict_proba(embedder.encode(queries))
    predictions = classifier.predict(queries)
    np.testing.assert_allclose([p.confidence for p in predictions], expected.max(axis=1), atol=1e-4)
    assert [p.top for p in predictions] == list(reference.classes_[expected.argmax(axis=1)])


def test_save_and_load_round_trip(
    tmp_path: Path, trained: tuple[IntentClassifier, IntentClassifier]
) -> None:
    _, classifier = trained
    classifier.save(tmp_path / "intents")

    loaded = IntentClassifier.load(tmp_path / "intents", HashEmbedder())

    assert sorted(p.name for p in (tmp_path / "intents").iterdir()) == ["head.npz", "meta.json"]
    assert (loaded.classes, loaded.threshold, loaded.c) == (
        classifier.classes,
        classifier.threshold,
        classifier.c,
    )
    assert loaded.calibration == classifier.calibration
    queries = [t for t, _ in IN_SCOPE_TESTS] + OUT_OF_SCOPE_TESTS
    assert [(p.intent, round(p.confidence, 5)) for p in loaded.predict(queries)] == [
        (p.intent, round(p.confidence, 5)) for p in classifier.predict(queries)
    ]


def test_load_refuses_a_head_trained_on_another_embedding_model(
    tmp_path: Path, trained: tuple[IntentClassifier, IntentClassifier]
) -> None:
    _, classifier = trained
    classifier.save(tmp_path / "intents")

    with pytest.raises(ConfigError, match="'hash-bow'.*'other-model'.*retrain"):
        IntentClassifier.load(tmp_path / "intents", HashEmbedder(name="other-model"))


def test_an_untrained_classifier_refuses_to_predict_or_save(tmp_path: Path) -> None:
    classifier = IntentClassifier(HashEmbedder())

    with pytest.raises(ConfigError, match="not trained"):
        classifier.predict(["hello"])
    with pytest.raises(ConfigError, match="not trained"):
        classifier.save(tmp_path)


def test_training_needs_two_intents() -> None:
    with pytest.raises(ConfigError, match="two intents"):
        IntentClassifier(HashEmbedder()).fit(
            ["refund please", "money back", "weather"], ["refund", "refund", "oos"]
        )


def test_too_few_examples_to_calibrate_leave_the_threshold_at_zero() -> None:
    classifier = IntentClassifier(HashEmbedder()).fit(
        ["refund my money", "track my parcel", "parcel delivery"],
        ["refund", "shipping", "shipping"],
    )

    assert (classifier.threshold, classifier.calibration) == (0.0, {"folds": 0})
    assert classifier.predict(["refund money"])[0].intent == "refund"
