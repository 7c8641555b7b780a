"""Continuous batching for the local backend: one loop decodes every conversation together.

The batching itself is transformers' ContinuousBatchingManager (a paged KV cache; requests join
and leave the running batch between decode steps; chunked prefill; CUDA graphs on a GPU). This
module adds what a chat server needs around it:

* a bound on the requests in flight (max_batch decoding + max_queue waiting); one more is refused
  at once with GenerationBusy instead of waiting without end;
* one stream per request: a dispatcher thread routes the manager's outputs to per-request queues;
* cancellation from the request's threading.Event (or from the caller dropping the iterator),
  which frees the request's batch slot and KV blocks before the next step;
* an exception in the model fails every request in flight with GenerationUnavailable, and the
  next request starts a fresh loop, so the engine keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.errors import GenerationBusy, GenerationTimeout, GenerationUnavailable

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # how often a waiting stream checks its cancel event
CPU_PAGE_SIZE = 64  # tokens per KV page on CPU (the default 256 wastes memory on short answers)
CUDA_PAGE_SIZE = 256  # transformers' default page size, left unchanged on CUDA
__all__ = ["BatchLimits", "ContinuousBatcher", "GenerationBusy"]  # GenerationBusy lives in bot.errors


@dataclass(frozen=True)
class BatchLimits:
    """How many requests decode together, how many may wait, and how big the KV cache is."""

    max_batch: int = 32
    max_queue: int = 64
    kv_cache_tokens: int = 16_384  # the cache size on CPU, and on CUDA when kv_cache_memory_fraction is None
    kv_cache_memory_fraction: float | None = 0.5  # CUDA: share of the free memory the cache takes
    idle_timeout: float = 120.0

    @property
    def max_in_flight(self) -> int:
        """Requests admitted at once: decoding plus waiting."""
        return self.max_batch + self.max_queue


@dataclass
class _Stream:
    outputs: queue.Queue[Any]
    epoch: int


class ContinuousBatcher:
    """Serves token streams for many requests from one continuously batched generation loop."""

    def __init__(self, lm: Any, generation_config: Any, limits: BatchLimits) -> None:
        """Wrap a loaded causal LM; the loop starts with the first request.

        Args:
            lm: a transformers PreTrainedModel (it gains `init_continuous_batching` from transformers).
            generation_config: a GenerationConfig (do_sample, temperature, eos_token_id, max_new_tokens).
            limits: batch, queue and cache sizes.
        """
        self.lm = lm
        self.generation_config = generation_config
        self.limits = limits
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._manager: Any = None
        self._epoch = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished, cancelled or failed."""
        with self._lock:
            return len(self._streams)

    def tokens(
        self, input_ids: list[int], max_new_tokens: int, cancel: threading.Event, temperature: float | None = None
    ) -> Iterator[list[int]]:
        """Generate for one prompt; yield every generated token id so far, each time it grows.

        Args:
            input_ids: the prompt's token ids.
            max_new_tokens: the cap on generated tokens.
            cancel: set it to stop; the request leaves the batch before the next decode step.
            temperature: per-request temperature when the engine samples; ignored when it is greedy.

        Returns:
            An iterator of token-id lists (each the whole output so far; the last one is final).

        Raises:
            GenerationBusy: max_batch + max_queue requests are already in flight.
            GenerationTimeout: the model produced nothing for idle_timeout seconds.
            GenerationUnavailable: the model failed, or the engine is closed.
        """
        if not input_ids:
            raise ValueError("a generation request needs at least one prompt token")
        request_id, manager = self._admit(input_ids, max_new_tokens, temperature)
        finished = False
        try:
            for output in self._outputs(request_id, cancel):
                finished = output.is_finished()
                yield list(output.generated_tokens)
        finally:
            self._release(request_id, manager, cancelled=not finished)

    def close(self) -> None:
        """Stop the loop; requests still in flight fail. The batcher refuses new requests afterwards."""
        with self._lock:
            self._closed = True
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.stop(block=True, timeout=30)

    def _admit(self, input_ids: list[int], max_new_tokens: int, temperature: float | None) -> tuple[str, Any]:
        with self._lock:
            if self._closed:
                raise GenerationUnavailable("the local generation engine is closed")
            if len(self._streams) >= self.limits.max_in_flight:
                raise GenerationBusy(len(self._streams))
            manager = self._running_manager()
            request_id = uuid.uuid4().hex
            self._streams[request_id] = _Stream(queue.Queue(), self._epoch)
        extra = {"temperature": temperature} if self._own_temperature(temperature) else {}
        added = manager.add_request(
            input_ids=list(input_ids),
            request_id=request_id,
            max_new_tokens=max_new_tokens,
            streaming=True,
            eos_token_id=self.generation_config.eos_token_id,
            **extra,
        )
        if added is None:  # the loop is stopping (closed or crashed just now)
            self._release(request_id, manager, cancelled=False)
            raise GenerationUnavailable("the local generation loop is not accepting requests")
        return request_id, manager

    def _own_temperature(self, temperature: float | None) -> bool:
        """Whether the request needs its own temperature (the loop samples at another non-default one)."""
        engine_temperature = self.generation_config.temperature
        if not self.generation_config.do_sample or engine_temperature in (None, 1.0):
            return False
        return bool(temperature) and temperature != engine_temperature

    def _outputs(self, request_id: str, cancel: threading.Event) -> Iterator[Any]:
        """Yield the request's outputs (coalesced to the latest) until it finishes, fails or is cancelled."""
        with self._lock:
            outputs = self._streams[request_id].outputs
        last_progress = time.monotonic()
        while not cancel.is_set():
            try:
                output = outputs.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if time.monotonic() - last_progress > self.limits.idle_timeout:
                    raise GenerationTimeout(
                        f"the local model produced nothing for {self.limits.idle_timeout:.0f}s"
                    ) from None
                continue
            while output is not None and not output.is_finished():  # skip to the newest output
                try:
                    output = outputs.get_nowait()
                except queue.Empty:
                    break
            if output is None or output.error is not None:
                reason = "the generation loop stopped" if output is None else output.error
                raise GenerationUnavailable(f"local model failed: {reason}")
            last_progress = time.monotonic()
            yield output
            if output.is_finished():
                return

    def _release(self, request_id: str, manager: Any, cancelled: bool) -> None:
        with self._lock:
            self._streams.pop(request_id, None)
        if cancelled and manager.is_running():
            manager.cancel_request(request_id)

    def _running_manager(self) -> Any:
        """The live manager; a crashed or missing one is replaced (call with the lock held)."""
        if self._manager is not None and self._manager.is_running():
            return self._manager
        if self._manager is not None:
            log.warning("continuous batching loop had stopped; starting a fresh one")
            self._manager.stop(block=True, timeout=30)
        self._epoch += 1
        self._manager = self.lm.init_continuous_batching(
            generation_config=self.generation_config, continuous_batching_config=self._cb_config()
        )
        self._manager.start()
        _stop_at_exit(self)
        threading.Thread(
            target=self._dispatch, args=(self._manager, self._epoch), name="frontdesk-batch-dispatch", daemon=True
        ).start()
        return self._manager

    def _cb_config(self) -> Any:
        from transformers import ContinuousBatchingConfig

        limits = self.limits
        sampling = bool(self.generation_config.do_sample)  # per-request temperature, top_k, top_p
        if self.lm.device.type == "cuda":
            if limits.kv_cache_memory_fraction is not None:  # size the paged cache from free GPU memory
                return ContinuousBatchingConfig(
                    max_requests_per_batch=limits.max_batch,
                    max_memory_percent=limits.kv_cache_memory_fraction,
                    per_request_processors=sampling,
                )
            return ContinuousBatchingConfig(  # an explicit cache of kv_cache_tokens (transformers' page size)
                max_requests_per_batch=limits.max_batch,
                num_blocks=math.ceil(limits.kv_cache_tokens / CUDA_PAGE_SIZE),
                per_request_processors=sampling,
            )
        return ContinuousBatchingConfig(  # CPU: explicit sizes (auto-sizing assumes a GPU)
            max_requests_per_batch=limits.max_batch,
            page_size=CPU_PAGE_SIZE,
            num_blocks=math.ceil(limits.kv_cache_tokens / CPU_PAGE_SIZE),
            max_batch_tokens=max(512, limits.max_batch),
            per_request_processors=sampling,
        )

    def _dispatch(self, manager: Any, epoch: int) -> None:
        """Route the manager's outputs to their streams until its loop ends, then fail the orphans."""
        while manager.is_running():
            output = manager.get_result(timeout=0.1)
            if output is not None:
                self._route(output)
        while (output := manager.get_result(timeout=0)) is not None:
            self._route(output)
        with self._lock:
            orphans = [s.outputs for s in self._streams.values() if s.epoch == epoch]
        for outputs in orphans:  # requests whose failure the loop never delivered
            outputs.put(None)

    def _route(self, output: Any) -> None:
        with self._lock:
            stream = self._streams.get(output.request_id)
        if stream is not None:
            stream.outputs.put(output)


_live: weakref.WeakSet[ContinuousBatcher] = weakref.WeakSet()


def _close_live() -> None:
    for batcher in list(_live):
        batcher.close()


def _stop_at_exit(batcher: ContinuousBatcher) -> None:
    """Close the batcher when the interpreter exits, before it waits for threads.

    transformers' loop thread is not a daemon; a batcher nobody closed would keep the process
    alive. threading's pre-join hook (what concurrent.futures uses) runs before that wait; atexit
    runs after it, too late.
    """
    if not _live:
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            with contextlib.suppress(RuntimeError):  # already shutting down
                register(_close_live)
    _live.add(batcher)
