"""The local backend: a transformers chat model in this process, on CUDA when present.

Two engines share the loading code. `batched` (the default) feeds every request into one
continuously batched loop (bot.generation.batcher); `sequential` runs one `generate()` per request
in a thread, as before. Both decode with the same clean GenerationConfig (greedy, or sampling with
the configured temperature, top_k and top_p), so their greedy answers are the same token for token.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.generation.base import GenerationRequest
from bot.generation.batcher import BatchLimits, ContinuousBatcher
from bot.generation.config import NOT_BATCHABLE, GenerationSettings
from bot.generation.detokenize import TextDeltas
from bot.generation.prompt import build_messages
from knowledge.models import offline_mode

log = logging.getLogger(__name__)


class LocalGenerator:
    """Streams tokens from a causal LM loaded from a local folder (safetensors or GGUF)."""

    backend = "local"

    def __init__(self, settings: GenerationSettings) -> None:
        if not settings.model_path:
            raise ConfigError(
                "generation backend 'local' needs FRONTDESK_GENERATION__MODEL_PATH (a model folder on disk)"
            )
        folder = Path(settings.model_path).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"local model folder not found: {folder}")
        offline_mode()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        self.device = settings.device
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        kwargs = {"gguf_file": settings.gguf_file} if settings.gguf_file else {}
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
        self.lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **kwargs).to(self.device)
        self.lm.eval()
        self.load_seconds = time.perf_counter() - started
        self.model = settings.gguf_file or folder.name
        self.generation_config = decoding_config(self.lm, self.tokenizer, settings)
        self.engine = settings.engine
        self.batcher: ContinuousBatcher | None = None
        if self.engine == "batched":
            refused = [name for name in NOT_BATCHABLE if getattr(settings, name) is not None]
            if refused:  # settings built without validation (model_construct/model_copy) end up here
                raise ConfigError(
                    f"the local batched engine does not implement {', '.join(refused)}; use engine=sequential"
                )
            limits = BatchLimits(
                max_batch=settings.max_batch,
                max_queue=settings.max_queue,
                kv_cache_tokens=settings.kv_cache_tokens,
                kv_cache_memory_fraction=settings.kv_cache_memory_fraction,
            )
            self.batcher = ContinuousBatcher(self.lm, self.generation_config, limits)
        log.info(
            "local model %s loaded on %s in %.1fs (%s engine)", self.model, self.device, self.load_seconds, self.engine
        )

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer as decoded text pieces; stop early when request.cancel is set.

        Args:
            request: the question, the numbered passages and the conversation so far.

        Returns:
            An iterator of text pieces whose concatenation is the answer.

        Raises:
            GenerationBusy: (batched engine) every batch slot and queue place is taken.
            GenerationUnavailable: the model failed or stalled.
        """
        input_ids = self._prompt_ids(request)
        if self.batcher is None:
            yield from self._stream_sequential(input_ids, request)
            return
        deltas = TextDeltas(self.tokenizer)
        tokens: list[int] = []
        for tokens in self.batcher.tokens(input_ids, request.max_new_tokens, request.cancel, request.temperature):
            piece = deltas.push(tokens)
            if piece:
                yield piece
        if not request.cancel.is_set():
            rest = deltas.push(tokens, final=True)
            if rest:
                yield rest

    def close(self) -> None:
        """Stop the batching loop (the server calls this at shutdown)."""
        if self.batcher is not None:
            self.batcher.close()

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        messages = build_messages(request, self.settings.history_turns)
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
        return [int(i) for i in encoded["input_ids"]]

    def _stream_sequential(self, input_ids: list[int], request: GenerationRequest) -> Iterator[str]:
        """One generate() per request in a worker thread, its text streamed through a TextIteratorStreamer."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = request.cancel

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set()

        ids = torch.tensor([input_ids], device=self.lm.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
        config = self.generation_config
        if config.do_sample and request.temperature > 0:
            config = copy.deepcopy(config)
            config.temperature = request.temperature
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.lm.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    generation_config=config,
                    max_new_tokens=request.max_new_tokens,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([Cancelled()]),
                )
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="frontdesk-generate", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if errors:
            raise errors[0]


def decoding_config(lm: Any, tokenizer: Any, settings: GenerationSettings) -> Any:
    """A GenerationConfig with only what the settings ask for: greedy, or sampling with temperature,
    top_k and top_p; repetition_penalty (sequential engine only); EOS and pad.

    The model folder's own generation_config (its top_k, top_p, repetition_penalty...) is not
    inherited: Frontdesk's settings decide, so both engines decode alike and greedy stays greedy.
    transformers' continuous batching applies temperature, top_k and top_p (per request); it drops
    repetition_penalty, which the settings refuse for the batched engine.
    """
    from transformers import GenerationConfig

    eos = lm.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    if isinstance(pad, list):
        pad = pad[0]
    sampling = settings.temperature > 0
    return GenerationConfig(
        do_sample=sampling,
        temperature=settings.temperature if sampling else None,
        top_k=settings.top_k if sampling else None,
        top_p=settings.top_p if sampling else None,
        repetition_penalty=settings.repetition_penalty,
        max_new_tokens=settings.max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
    )
