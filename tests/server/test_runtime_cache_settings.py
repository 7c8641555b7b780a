"""The server builds its models with the knowledge settings: re-ranker threads and both cache sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.config import KnowledgeSettings
from knowledge.rerank import default_reranker
from server.context import Services
from tests.conftest import make_settings


def services_with(tmp_path: Path, **knowledge: object) -> Services:
    return Services.open(make_settings(tmp_path / "data", knowledge=KnowledgeSettings(**knowledge)))


def test_the_servers_embedder_and_relevance_use_the_cache_sizes(tmp_path: Path) -> None:
    services = services_with(tmp_path, reranker="none", query_cache_size=7, rerank_cache_size=0)
    try:
        embedder = services.runtimes.embedder()
        assert embedder.cache_size == 7
        assert services.runtimes.generator().relevance.cache_size == 0  # type: ignore[attr-defined]
    finally:
        services.close()


@pytest.mark.slow
def test_the_servers_reranker_runs_on_the_configured_threads(tmp_path: Path) -> None:
    if default_reranker() is None:
        pytest.skip("the packaged re-ranker is not installed")
    services = services_with(tmp_path, reranker_threads=2)
    try:
        reranker = services.runtimes.reranker()
        assert reranker is not None
        assert reranker.session.get_session_options().intra_op_num_threads == 2
    finally:
        services.close()


def test_a_knowledge_base_scores_with_the_configured_cache_size(tmp_path: Path) -> None:
    from knowledge.base import KnowledgeBase
    from tests.fakes import HashEmbedder

    kb = KnowledgeBase(tmp_path / "index", HashEmbedder(), KnowledgeSettings(reranker="none", rerank_cache_size=3))  # type: ignore[arg-type]
    assert kb.relevance.cache_size == 3
