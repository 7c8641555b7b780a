"""The local backend: a transformers chat model in this process, on CUDA when present."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bot.errors import ConfigError
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
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
        log.info("local model %s loaded on %s in %.1fs", self.model, self.device, self.load_seconds)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Generate with a background thread and yield decoded text as it arrives."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = request.cancel

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:  # type: ignore[no-untyped-def]
                return cancel.is_set()

        messages = build_messages(request, self.settings.history_turns)
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
        sampling = (
            {"do_sample": True, "temperature": request.temperature} if request.temperature > 0 else {"do_sample": False}
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.lm.generate(
                    **inputs,
                    max_new_tokens=request.max_new_tokens,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([Cancelled()]),
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                    **sampling,
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
