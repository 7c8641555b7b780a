"""Settings for answer generation (nested into the server's settings object)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

# Decoding options transformers' continuous batching cannot apply: its loop drops their logits
# processors (supports_continuous_batching = False), so the batched engine refuses them at config time.
NOT_BATCHABLE = ("repetition_penalty",)


class GenerationSettings(BaseModel):
    """Which backend writes answers, and how."""

    backend: Literal["extractive", "local", "openai"] = "extractive"
    model_path: str | None = Field(default=None, description="local: a model folder on disk.")
    gguf_file: str | None = Field(default=None, description="local: a GGUF file inside model_path.")
    device: str = Field(default="auto", description="local: 'auto', 'cpu' or 'cuda'.")
    max_new_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0: greedy; above 0: sampling.")
    top_k: int | None = Field(
        default=None, ge=1, description="Sampling: keep the k most likely tokens (local: both engines; openai: sent)."
    )
    top_p: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Sampling: keep the smallest set of tokens whose probability reaches p.",
    )
    repetition_penalty: float | None = Field(
        default=None,
        gt=0.0,
        description="local sequential and openai only: the batched engine cannot apply it and refuses it.",
    )
    history_turns: int = Field(default=6, ge=0, le=50)
    engine: Literal["batched", "sequential"] = Field(
        default="batched",
        description="local: 'batched' runs every request in one continuously batched loop (transformers' "
        "ContinuousBatchingManager: requests join and leave between decode steps, paged KV cache); "
        "'sequential' runs one generate() per request.",
    )
    max_batch: int = Field(default=32, ge=1, le=1024, description="local batched: requests decoded together.")
    max_queue: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="local batched: requests that may wait for a batch slot; one more is refused as busy.",
    )
    kv_cache_tokens: int = Field(
        default=16_384,
        ge=256,
        description="local batched on CPU: tokens the paged KV cache holds (shared by all requests).",
    )
    kv_cache_memory_fraction: float = Field(
        default=0.5,
        gt=0.0,
        le=0.95,
        description="local batched on CUDA: fraction of the free GPU memory the paged KV cache may take.",
    )
    on_ungrounded: Literal["replace", "flag"] = Field(
        default="replace",
        description="An LLM answer that cites no passage or states numbers no passage has: "
        "'replace' it with the extractive answer, or only 'flag' it on the trace.",
    )
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = "default"
    openai_api_key: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    redact_pii: bool = Field(
        default=False,
        description="openai: replace personal data (e-mails, phones, card and ID numbers) with labels "
        "before the conversation leaves for the external endpoint.",
    )

    @model_validator(mode="after")
    def _refuse_what_cannot_apply(self) -> GenerationSettings:
        if self.temperature == 0 and (self.top_k is not None or self.top_p is not None):
            raise ValueError(
                "generation top_k/top_p apply only when sampling: set FRONTDESK_GENERATION__TEMPERATURE above 0 "
                "or leave top_k/top_p unset (temperature 0 is greedy)"
            )
        if self.backend == "local" and self.engine == "batched":
            unsupported = [name for name in NOT_BATCHABLE if getattr(self, name) is not None]
            if unsupported:
                raise ValueError(
                    f"generation {', '.join(unsupported)} is not implemented by the local batched engine "
                    "(transformers' continuous batching drops it); set FRONTDESK_GENERATION__ENGINE=sequential "
                    "or leave it unset"
                )
        return self
