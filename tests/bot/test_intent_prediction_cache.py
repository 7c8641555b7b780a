"""IntentClassifier.predict of one message: cached by its exact text, with the same result as uncached."""

from __future__ import annotations

import pytest

from bot.intents.classifier import IntentClassifier
from tests.fakes import HashEmbedder

EXAMPLES = {
    "refund": ["refund my money", "I want my money back", "reimburse the charge", "cash back please"],
    "shipping": ["where is my parcel", "track my delivery", "courier lost my package", "shipping status"],
    "account": ["reset my password", "cannot login", "account locked", "change my username"],
}
MESSAGES = ["refund my money back please", "track my parcel delivery", "my account is locked", "hello there"]


def trained(cache_size: int) -> tuple[IntentClassifier, HashEmbedder]:
    embedder = HashEmbedder()
    texts = [t for examples in EXAMPLES.values() for t in examples]
    labels = [label for label, examples in EXAMPLES.items() for _ in examples]
    model = IntentClassifier(embedder, method="frozen", companion="none").fit(texts, labels)  # type: ignore[arg-type]
    model.prediction_cache_size = cache_size
    return model, embedder


def test_a_repeated_message_is_encoded_once_and_predicted_the_same() -> None:
    model, embedder = trained(cache_size=16)
    uncached, _ = trained(cache_size=0)
    calls = embedder.calls
    first = [model.predict([m])[0] for m in MESSAGES]
    again = [model.predict([m])[0] for m in MESSAGES]
    assert embedder.calls == calls + len(MESSAGES)  # the second round came from the cache
    assert first == again == [uncached.predict([m])[0] for m in MESSAGES]
    assert [p.top for p in first[:3]] == ["refund", "shipping", "account"]


def test_batches_are_not_cached_and_match_single_predictions() -> None:
    model, embedder = trained(cache_size=16)
    batch = model.predict(MESSAGES)
    calls = embedder.calls
    assert model.predict(MESSAGES) == batch
    assert embedder.calls == calls + 1
    assert [p.intent for p in batch] == [model.predict([m])[0].intent for m in MESSAGES]


def test_the_cache_is_bounded_and_emptied_by_a_new_fit() -> None:
    model, _ = trained(cache_size=2)
    for message in MESSAGES:
        model.predict([message])
    assert list(model._features) == MESSAGES[-2:]
    model.fit([t for ex in EXAMPLES.values() for t in ex], [k for k, ex in EXAMPLES.items() for _ in ex])
    assert not model._features


@pytest.mark.parametrize("size", [0, 1])
def test_no_cache_or_a_tiny_one_gives_the_same_predictions(size: int) -> None:
    model, _ = trained(cache_size=size)
    reference, _ = trained(cache_size=0)
    for message in MESSAGES * 2:
        assert model.predict([message]) == reference.predict([message])
