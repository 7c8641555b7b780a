"""Continuous batching vs sequential generate(): time to first token, tokens/s, memory.

The model is built from a config with random weights (no download): by default the shape of
Qwen2.5-0.5B (24 layers, hidden 896, 14 query / 2 KV heads, vocabulary 151,936; 494M parameters).
Prompts are random token ids and EOS is disabled, so every request writes exactly --new-tokens.

For each concurrency C, C requests arrive at once:
* batched: the local backend's engine (bot.generation.batcher.ContinuousBatcher, i.e. transformers'
  ContinuousBatchingManager with a paged KV cache), one thread per request, as the server runs it;
* sequential: naive `model.generate()` one request after the other. It is measured on single
  requests (TTFT and the whole request, median of --repeats); C queued requests are derived from
  that (request i waits for i earlier ones), which is exact for a strictly sequential server.

Reported per C: TTFT p50/p95, output tokens/s per stream (median) and in total, peak memory (GPU
allocated, or the process's peak RSS on CPU), each with its ratio to sequential; the decode step
(1 / tokens/s per stream) against the memory-bandwidth floor of a step (weight bytes / 3.35e12 B/s,
the H100 SXM figure: the weights must be read once per step, whatever the batch).

On CUDA the paged KV cache is sized to the run (C x (prompt + new + 64) tokens, --kv-cache sized,
the default) so the memory column compares like with like; --kv-cache fraction uses the server's
default instead (half of the free GPU memory, allocated up front).

    .venv/bin/python bench/generation_batching.py                      # CPU defaults (printed)
    .venv/bin/python bench/generation_batching.py --device cuda --dtype bfloat16 --json
        # the issue-5 GPU run: Qwen2.5-0.5B shape, bf16, 1,000-token prompts, 150 out, C = 1 8 32 128
    .venv/bin/python bench/generation_batching.py --shape small --prompt-tokens 32 --new-tokens 8 \
        --concurrency 1 4 --repeats 1                                  # a dry run in seconds
"""

from __future__ import annotations

import argparse
import copy
import logging
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import json_line, machine, print_table, ratio  # noqa: E402
from bot.generation.batcher import BatchLimits, ContinuousBatcher  # noqa: E402

H100_BANDWIDTH = 3.35e12  # bytes per second
DTYPES = ["bfloat16", "float16", "float32"]
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "vocab_size": 151_936,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32_768,
        "rope_theta": 1_000_000.0,
        "tie_word_embeddings": True,
    },
    "small": {  # a quick CPU smoke shape: 4 layers, hidden 256
        "vocab_size": 32_000,
        "hidden_size": 256,
        "intermediate_size": 1024,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    },
}


def build_model(shape: str, device: str, dtype_name: str) -> Any:
    """A Qwen2 causal LM with random weights, in dtype_name, on device."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(**SHAPES[shape], eos_token_id=None, pad_token_id=0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(getattr(torch, dtype_name))
    return model.eval()


def prompts(count: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    return [[rng.randrange(100, vocab) for _ in range(length)] for _ in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sequential_single(model: Any, config: Any, prompt: list[int], new_tokens: int) -> tuple[float, float]:
    """One generate(): (seconds to the first token, seconds for the whole request)."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.calls, self.at = 0, 0.0

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.calls == 2:  # the first call carries the prompt
                self.at = time.perf_counter()

        def end(self) -> None:
            pass

    ids = torch.tensor([prompt], device=model.device)
    config = copy.deepcopy(config)
    config.max_new_tokens = config.min_new_tokens = new_tokens
    streamer = FirstToken()
    started = time.perf_counter()
    with torch.no_grad():
        model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            generation_config=config,
            streamer=streamer,
        )
    synchronize(model)
    return streamer.at - started, time.perf_counter() - started


def batched_run(engine: ContinuousBatcher, batch: list[list[int]], new_tokens: int) -> list[dict[str, float]]:
    """All requests at once, one thread each; per request: first-token and end times, tokens."""
    results: list[dict[str, float]] = [{} for _ in batch]
    start = threading.Barrier(len(batch) + 1)

    def consume(i: int) -> None:
        start.wait()
        began = time.perf_counter()
        first, count = 0.0, 0
        for tokens in engine.tokens(batch[i], new_tokens, threading.Event()):
            if not first:
                first = time.perf_counter()
            count = len(tokens)
        results[i] = {"began": began, "first": first, "end": time.perf_counter(), "tokens": count}

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(len(batch))]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    return results


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def gpu_name(device: str) -> str | None:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else None


def synchronize(model: Any) -> None:
    import torch

    if model.device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run both engines at every concurrency and return the figures."""
    from transformers import GenerationConfig

    model = build_model(args.shape, args.device, args.dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    config = GenerationConfig(do_sample=False, eos_token_id=None, pad_token_id=0, max_new_tokens=args.new_tokens)
    vocab = model.config.vocab_size
    concurrencies = args.concurrency + ([128] if args.full and 128 not in args.concurrency else [])
    floor = weight_bytes / H100_BANDWIDTH
    max_c = max(concurrencies)

    sequential_single(model, config, prompts(1, 16, vocab, 99)[0], 4)  # warm-up
    reset_peak(args.device)
    singles = [
        sequential_single(model, config, p, args.new_tokens)
        for p in prompts(args.repeats, args.prompt_tokens, vocab, 1)
    ]
    seq_ttft = statistics.median(s[0] for s in singles)
    seq_total = statistics.median(s[1] for s in singles)
    seq_memory = peak_memory_mb(args.device)
    seq_step = (seq_total - seq_ttft) / max(1, args.new_tokens - 1)

    kv_tokens = max_c * (args.prompt_tokens + args.new_tokens + 64)
    fraction = 0.5 if args.kv_cache == "fraction" else None  # None: exactly kv_tokens (CPU: always)
    limits = BatchLimits(
        max_batch=max_c, max_queue=0, kv_cache_tokens=kv_tokens, kv_cache_memory_fraction=fraction, idle_timeout=600
    )
    engine = ContinuousBatcher(model, config, limits)
    batched_run(engine, prompts(2, 16, vocab, 98), 4)  # warm-up (starts the loop, CUDA graphs)
    rows = []
    for c in concurrencies:
        reset_peak(args.device)
        runs = batched_run(engine, prompts(c, args.prompt_tokens, vocab, 1000 + c), args.new_tokens)
        began = min(r["began"] for r in runs)
        ttfts = [r["first"] - r["began"] for r in runs]
        per_stream = [(r["tokens"] - 1) / (r["end"] - r["first"]) for r in runs if r["end"] > r["first"]]
        total = sum(r["tokens"] for r in runs) / (max(r["end"] for r in runs) - began)
        seq_ttfts = [i * seq_total + seq_ttft for i in range(c)]
        seq_stream = (args.new_tokens - 1) / (seq_total - seq_ttft)
        seq_tps = args.new_tokens / seq_total
        row = {
            "concurrency": c,
            "ttft_p50_s": round(percentile(ttfts, 0.5), 3),
            "ttft_p95_s": round(percentile(ttfts, 0.95), 3),
            "tok_s_stream": round(statistics.median(per_stream), 1),
            "tok_s_total": round(total, 1),
            "peak_mem_mb": round(peak_memory_mb(args.device)),
            "seq_ttft_p50_s": round(percentile(seq_ttfts, 0.5), 3),
            "seq_tok_s_total": round(seq_tps, 1),
        }
        row["ttft_p50_x_seq"] = ratio(row["ttft_p50_s"], percentile(seq_ttfts, 0.5))
        row["ttft_p95_x_seq"] = ratio(row["ttft_p95_s"], percentile(seq_ttfts, 0.95))
        row["stream_x_seq"] = ratio(row["tok_s_stream"], seq_stream)
        row["total_x_seq"] = ratio(row["tok_s_total"], seq_tps)
        row["mem_x_seq"] = ratio(row["peak_mem_mb"], seq_memory)
        row["step_ms"] = round(1000 / row["tok_s_stream"], 2) if row["tok_s_stream"] else None
        row["step_x_floor"] = round(row["step_ms"] / 1000 / floor, 1) if row["step_ms"] else None
        rows.append(row)
        print(f"concurrency {c}: done", file=sys.stderr)
    engine.close()
    batch1 = next((r for r in rows if r["concurrency"] == 1), None)
    return {
        "bench": "generation_batching",
        "machine": machine(),
        "device": args.device,
        "gpu": gpu_name(args.device),
        "dtype": args.dtype,
        "kv_cache": args.kv_cache,
        "kv_cache_tokens": kv_tokens if fraction is None else None,
        "shape": args.shape,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weight_bytes": weight_bytes,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "sequential": {
            "ttft_s": round(seq_ttft, 3),
            "request_s": round(seq_total, 3),
            "step_ms": round(seq_step * 1000, 2),
            "peak_mem_mb": round(seq_memory),
        },
        "floor_step_ms": round(floor * 1000, 3),
        "batch1_step_ms": round(1000 / batch1["tok_s_stream"], 2) if batch1 else None,
        "batch1_step_x_floor": round(1 / batch1["tok_s_stream"] / floor, 1) if batch1 else None,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the settings, measure, print the table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=DTYPES, default=None, help="default: bfloat16 (CUDA) / float32 (CPU)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-0.5b")
    parser.add_argument("--concurrency", type=int, nargs="+", default=None, help="default: 1 8 32 128 (CUDA) / 1 8 32")
    parser.add_argument("--full", action="store_true", help="add concurrency 128 (the CUDA default has it)")
    parser.add_argument(
        "--kv-cache", choices=["sized", "fraction"], default="sized", help="CUDA: cache sized to the run, or 0.5 free"
    )
    parser.add_argument("--prompt-tokens", type=int, default=None, help="default: 1000 (CUDA) / 256 (CPU)")
    parser.add_argument("--new-tokens", type=int, default=None, help="default: 150 (CUDA) / 32 (CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="single sequential requests measured")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    cpu = args.device == "cpu"
    args.concurrency = args.concurrency or ([1, 8, 32] if cpu else [1, 8, 32, 128])
    args.dtype = args.dtype or ("float32" if cpu else "bfloat16")
    if args.device == "cuda" and not cuda_available():
        parser.error("--device cuda: torch sees no CUDA device")
    args.prompt_tokens = args.prompt_tokens or (256 if cpu else 1000)
    args.new_tokens = args.new_tokens or (32 if cpu else 150)
    if min(args.concurrency) < 1 or args.prompt_tokens < 1 or args.new_tokens < 2:
        parser.error("concurrency and prompt tokens must be >= 1, new tokens >= 2")
    logging.basicConfig(level=logging.WARNING)
    print(
        f"device={args.device} dtype={args.dtype} kv_cache={args.kv_cache} shape={args.shape} "
        f"prompt_tokens={args.prompt_tokens} "
        f"new_tokens={args.new_tokens} concurrency={args.concurrency}{' +128' if args.full else ''}"
    )
    result = measure(args)
    seq = result["sequential"]
    print(
        f"{result['parameters'] / 1e6:.0f}M parameters, {result['weight_bytes'] / 2**20:.0f} MiB of weights; "
        f"sequential generate(): TTFT {seq['ttft_s']}s, {seq['request_s']}s a request, "
        f"{seq['step_ms']} ms a decode step; bandwidth floor (H100) {result['floor_step_ms']} ms a step; "
        f"batched batch-1 step {result['batch1_step_ms']} ms = {result['batch1_step_x_floor']}x the floor"
    )
    columns = list(result["rows"][0])
    print_table(result["rows"], columns)
    if args.json:
        json_line(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
