"""SetFit-style contrastive fine-tuning of a sentence-transformers body on intent examples.

Each step draws a batch of distinct intents, one (anchor, positive) pair of examples per intent,
and minimises the in-batch softmax loss (MultipleNegativesRankingLoss, both directions): texts of
one intent are pulled together, the other intents in the batch are the negatives. Batches never
hold two pairs of one intent, so there are no false negatives.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from knowledge.models import offline_mode

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class FinetuneConfig:
    """How long and how hard to fine-tune; `steps` is the cap that bounds training time."""

    steps: int = 100
    epochs: float = 20.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    scale: float = 20.0
    warmup: float = 0.1
    seed: int = 0


def plan_steps(n_texts: int, config: FinetuneConfig) -> int:
    """Steps for config.epochs passes over the texts (a step sees 2 x batch texts), capped at config.steps."""
    return max(1, min(config.steps, math.ceil(config.epochs * n_texts / (2 * config.batch_size))))


def _batches(labels: list[str], config: FinetuneConfig, steps: int) -> list[list[tuple[int, int]]]:
    """Per step, (anchor, positive) row indices for up to batch_size distinct intents."""
    rng = np.random.default_rng(config.seed)
    by_label: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_label.setdefault(label, []).append(row)
    names = sorted(by_label)
    size = min(config.batch_size, len(names))
    order: list[str] = []
    plan = []
    for _ in range(steps):
        # Walk the intents in shuffled rounds so each gets its turn; a batch that spans two rounds
        # takes from the next round only intents it does not hold yet.
        chosen, order = order[:size], order[size:]
        if len(chosen) < size:
            fresh = [names[i] for i in rng.permutation(len(names))]
            extra = [n for n in fresh if n not in chosen][: size - len(chosen)]
            chosen += extra
            order = [n for n in fresh if n not in extra]
        pairs = []
        for name in chosen:
            rows = by_label[name]
            # A single example is its own positive: dropout still gives two different views.
            picked = rng.choice(len(rows), size=2, replace=False) if len(rows) > 1 else [0, 0]
            pairs.append((rows[picked[0]], rows[picked[1]]))
        plan.append(pairs)
    return plan


def finetune(
    model_path: Path,
    texts: list[str],
    labels: list[str],
    config: FinetuneConfig,
    device: str = "cpu",
    progress: Progress | None = None,
) -> SentenceTransformer:
    """Fine-tune the sentence-transformers model in model_path on labelled texts (in-scope only).

    Args:
        model_path: a local sentence-transformers folder (never downloaded).
        texts: example utterances.
        labels: their intents (at least two distinct).
        config: step cap, batch size, learning rate.
        device: 'cpu' or 'cuda'.
        progress: called with ('finetune', fraction done) after each step.

    Returns:
        The fine-tuned model, in eval mode.
    """
    offline_mode()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(config.seed)
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(idle_threads(threads))
    try:
        model = SentenceTransformer(str(model_path), device=device)
        _train(model, texts, labels, config, device, progress)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


def idle_threads(threads: int) -> int:
    """Threads for a CPU fine-tune: no more than the idle cores (at least one).

    Oversubscribed torch threads spin against each other: on the shared 2-core VM with a load of ~11,
    two threads took 3.5 s per step and one thread 0.84 s.
    """
    try:
        busy = int(os.getloadavg()[0])
    except OSError:  # not available on this platform
        return threads
    return max(1, min(threads, (os.cpu_count() or 1) - busy))


def _train(  # noqa: PLR0913
    model: SentenceTransformer, texts: list[str], labels: list[str], config: FinetuneConfig, device: str,
    progress: Progress | None,
) -> None:
    import torch

    steps = plan_steps(len(texts), config)
    plan = _batches(labels, config, steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, int(config.warmup * steps))

    def schedule(step: int) -> float:
        return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    started = time.perf_counter()
    for step, pairs in enumerate(plan):
        anchors = _embed(model, [texts[a] for a, _ in pairs], device)
        positives = _embed(model, [texts[p] for _, p in pairs], device)
        scores = anchors @ positives.T * config.scale
        target = torch.arange(len(pairs), device=scores.device)
        cross_entropy = torch.nn.functional.cross_entropy
        loss = (cross_entropy(scores, target) + cross_entropy(scores.T, target)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if progress is not None:
            progress("finetune", (step + 1) / steps)
    seconds = time.perf_counter() - started
    log.info("fine-tuned: %d steps of %d pairs in %.1fs (%d threads)", steps, len(plan[0]), seconds,
             torch.get_num_threads())


def _embed(model: SentenceTransformer, texts: list[str], device: str):  # noqa: ANN202 - a torch tensor
    import torch

    features = model.preprocess(texts)
    features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


class FinetunedEncoder:
    """A fine-tuned sentence-transformers body with the Embedder surface (name, dim, encode)."""

    FOLDER = "encoder"

    def __init__(self, model: SentenceTransformer, name: str) -> None:
        self.model = model
        self.name = name
        self.dim = int(model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts as unit-length float32 rows of shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def save(self, folder: Path) -> None:
        """Write the body under folder/encoder (sentence-transformers format, safetensors)."""
        self.model.save(str(folder / self.FOLDER))

    @classmethod
    def load(cls, folder: Path, name: str, device: str = "cpu") -> FinetunedEncoder:
        """Read a body written by save(); local files only, never a hub."""
        offline_mode()
        from sentence_transformers import SentenceTransformer

        path = folder / cls.FOLDER
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: fine-tuned encoder missing")
        return cls(SentenceTransformer(str(path), device=device, local_files_only=True), name)
