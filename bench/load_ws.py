"""Load test: many widget conversations over websockets against real `frontdesk serve` workers.

Loopback only and bounded. Per backend (`extractive`, and `openai` pointed at bench/fake_openai.py,
a real streaming HTTP server in its own process) it starts `--max-workers` server processes on
separate ports (one PostgreSQL database; the first worker seeds the demo bot), then for 1, 2 and 4
of them: opens `--idle` sockets that say hello and stay open, runs `--concurrency` conversations
that each send a message and wait for its `final` before the next, for `--duration` seconds, and
checks in the database that every customer message of the run has a reply or a recorded error.
Sockets are spread round-robin over the workers in use (there is no proxy; each worker has its port).

Reported per run: sockets held, messages/s, p50/p95/p99 latency from send to `final`, error frames
(by code), lost messages, and RSS growth per idle socket. Ratios are against the 1-worker
extractive run of the same invocation. Rate limits are off for the run (every client is 127.0.0.1);
max_concurrent_turns and max_queued_turns are raised so the bench measures throughput, not refusals
(the busy path has its own test).

    .venv/bin/python bench/load_ws.py                          # both backends, 1/2/4 workers, ~45 min here
    .venv/bin/python bench/load_ws.py --backends extractive --workers 1 --idle 500 --duration 20
    .venv/bin/python bench/load_ws.py --backends extractive --workers 1 --questions repeat unique
    .venv/bin/python bench/load_ws.py --backends extractive --workers 1 --questions unique --rerankers auto none

`--questions unique` makes every message's text unique, so the exact-text query caches (embeddings,
intent vectors, re-ranker scores) cannot answer it: that measures the full pipeline per message.
`--rerankers auto none` runs each configuration with the cross-encoder (`auto`: the packaged one when
installed) and again without it (`FRONTDESK_KNOWLEDGE__RERANKER=none`), on freshly started workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, json_line, print_table, ratio  # noqa: E402
from fake_openai import free_port  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
QUESTIONS = [
    "How long does standard shipping take?",
    "Can I return an item?",
    "Do you ship to Canada?",
    "How do I reset my password?",
    "Which payment methods do you accept?",
    "Where is my order?",
    "How much does express shipping cost?",
    "Can I change my delivery address?",
]


@dataclass
class Run:
    """The figures of one configuration."""

    backend: str
    workers: int
    reranker: str = "auto"  # FRONTDESK_KNOWLEDGE__RERANKER of the workers
    questions: str = "repeat"  # "repeat": 8 FAQ questions drawn at random; "unique": each text made unique
    held: int = 0
    idle_target: int = 0
    sent: int = 0
    finals: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rss_per_socket_kb: float | None = None
    lost: int | None = None
    failed_recorded: int = 0
    conversations: set[str] = field(default_factory=set)

    def row(self) -> dict[str, Any]:
        """A table row."""
        q = statistics.quantiles(self.latencies, n=100) if len(self.latencies) >= 2 else [0.0] * 99
        return {
            "backend": self.backend,
            "workers": self.workers,
            "reranker": self.reranker,
            "questions": self.questions,
            "held": f"{self.held}/{self.idle_target}",
            "msg/s": round(self.finals / self.seconds, 1) if self.seconds else 0.0,
            "p50 ms": round(q[49] * 1000),
            "p95 ms": round(q[94] * 1000),
            "p99 ms": round(q[98] * 1000),
            "errors": sum(self.errors.values()),
            "lost": self.lost,
            "failed(recorded)": self.failed_recorded,
            "rss KB/socket": self.rss_per_socket_kb,
        }


class Workers:
    """`frontdesk serve` processes on their own ports, sharing one database."""

    def __init__(self, data: Path, database_url: str, env: dict[str, str]) -> None:
        self.data, self.database_url, self.env = data, database_url, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    def start(self, count: int) -> None:
        """Start count workers; the first alone (it seeds an empty database), then the rest together."""
        self._launch(1)
        self._wait()
        self._launch(count - 1)
        self._wait()

    def _launch(self, count: int) -> None:
        env = {
            **os.environ,
            "FRONTDESK_DATA_DIR": str(self.data),
            "FRONTDESK_DATABASE_URL": self.database_url,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **self.env,
        }
        exe = Path(sys.executable).with_name("frontdesk")
        for _ in range(count):
            port = free_port()
            log = (self.data / f"worker-{port}.log").open("w")
            self.procs.append(
                subprocess.Popen(
                    [str(exe), "serve", "--port", str(port)],
                    cwd=self.data,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            self.ports.append(port)

    def _wait(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        for proc, port in zip(self.procs, self.ports, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker on {port} exited; see {self.data}/worker-{port}.log")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("workers did not start in time")
                time.sleep(0.5)

    def rss(self, count: int) -> int:
        """Resident memory of the first count workers, in bytes."""
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.procs[:count])

    def stop(self) -> None:
        """SIGTERM every worker (they drain) and wait."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


async def hello(url: str, run: Run) -> Any:
    ws = await websockets.connect(url, max_queue=64, ping_interval=None, open_timeout=60)
    await ws.send(json.dumps({"type": "hello"}))
    ready = json.loads(await ws.recv())
    run.conversations.add(ready["conversation_id"])
    return ws


async def open_idle(urls: list[str], count: int, run: Run, parallel: int = 100) -> list[Any]:
    """Open count sockets (hello, then silence), at most parallel handshakes at once."""
    gate = asyncio.Semaphore(parallel)
    sockets: list[Any] = []

    async def one(n: int) -> None:
        async with gate:
            try:
                sockets.append(await hello(urls[n % len(urls)], run))
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                run.errors[f"connect:{type(exc).__name__}"] += 1

    await asyncio.gather(*(one(n) for n in range(count)))
    run.held = len(sockets)
    return sockets


def question(mode: str, frame_id: str) -> str:
    """A customer's message: one of the FAQ questions, made unique (so no cache can answer it) in 'unique'."""
    text = random.choice(QUESTIONS)
    return f"{text} (ref {frame_id})" if mode == "unique" else text


async def converse(url: str, run: Run, stop_at: float, tag: str) -> None:
    """Send a message, wait for its final (or error), repeat until stop_at."""
    try:
        ws = await hello(url, run)
    except (TimeoutError, OSError, websockets.WebSocketException) as exc:
        run.errors[f"connect:{type(exc).__name__}"] += 1
        return
    n = 0
    try:
        while time.monotonic() < stop_at:
            n += 1
            frame_id = f"{tag}-{n}"
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "id": frame_id, "text": question(run.questions, frame_id)}))
            run.sent += 1
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if frame.get("type") == "final":
                    run.finals += 1
                    run.latencies.append(time.perf_counter() - started)
                    break
                if frame.get("type") == "error":
                    run.errors[frame.get("code", "error")] += 1
                    await asyncio.sleep(frame.get("retry_after", 1) if frame.get("code") == "busy" else 0)
                    break
    except (TimeoutError, OSError, websockets.WebSocketException) as exc:
        run.errors[f"socket:{type(exc).__name__}"] += 1
    finally:
        await ws.close()


def check_lost(database_url: str, run: Run) -> None:
    """Customer messages of the run's conversations with neither a reply nor a recorded error."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    ids = list(run.conversations)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT m.status, EXISTS (SELECT 1 FROM message r WHERE r.reply_to = m.id) AS answered "
                "FROM message m WHERE m.role = 'customer' AND m.conversation_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    engine.dispose()
    run.lost = sum(1 for status, answered in rows if not answered and status != "failed")
    run.failed_recorded = sum(1 for status, answered in rows if not answered and status == "failed")


async def measure(
    workers: Workers, count: int, backend: str, mode: str, args: argparse.Namespace, reranker: str = "auto"
) -> Run:
    """One configuration: idle sockets, then the closed-loop conversations, then the database check."""
    run = Run(backend, count, reranker=reranker, questions=mode, idle_target=args.idle)
    urls = [f"ws://127.0.0.1:{p}/ws/chat/demo" for p in workers.ports[:count]]
    before = workers.rss(count)
    idle = await open_idle(urls, args.idle, run)
    await asyncio.sleep(2)
    if run.held:
        run.rss_per_socket_kb = round((workers.rss(count) - before) / run.held / 1024, 1)
    started = time.monotonic()
    stop_at = started + args.duration
    tag = uuid.uuid4().hex[:8]
    await asyncio.gather(*(converse(urls[i % len(urls)], run, stop_at, f"{tag}-{i}") for i in range(args.concurrency)))
    run.seconds = time.monotonic() - started
    await asyncio.gather(*(ws.close() for ws in idle), return_exceptions=True)
    check_lost(workers.database_url, run)
    return run


@contextlib.contextmanager
def database() -> Any:
    """A throwaway PostgreSQL database for the run."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"fd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def fake_llm(delay: float) -> Any:
    """bench/fake_openai.py in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "fake_openai.py"), "--port", str(port), "--delay", str(delay)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit toward wanted (up to the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def main() -> None:
    """Run every configuration and print the table, the ratios and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["extractive", "openai"], choices=["extractive", "openai"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--idle", type=int, default=5000, help="idle sockets held during each run")
    parser.add_argument("--concurrency", type=int, default=64, help="conversations sending messages")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per run")
    parser.add_argument(
        "--questions",
        nargs="+",
        default=["repeat"],
        choices=["repeat", "unique"],
        help="repeat: 8 FAQ questions at random (repeats hit the query caches); unique: every message differs",
    )
    parser.add_argument(
        "--rerankers",
        nargs="+",
        default=[os.environ.get("FRONTDESK_KNOWLEDGE__RERANKER", "auto")],
        help="FRONTDESK_KNOWLEDGE__RERANKER of the workers (auto, none, packaged:NAME or a folder); each value "
        "restarts them. Default: the environment's, else auto (the packaged cross-encoder when installed)",
    )
    parser.add_argument("--llm-delay", type=float, default=0.01, help="fake model: seconds between words")
    args = parser.parse_args()
    limit = raise_fd_limit(args.idle * 2 + args.concurrency * 2 + 1024)
    env = {
        "FRONTDESK_RATE_LIMITS__ENABLED": "false",
        "FRONTDESK_MAX_CONCURRENT_TURNS": "32",
        "FRONTDESK_RATE_LIMITS__MAX_QUEUED_TURNS": "100000",
        "FRONTDESK_LOG_LEVEL": "WARNING",
        "FRONTDESK_GENERATION__RETRIES": "0",
    }
    runs: list[Run] = []
    with database() as url, contextlib.ExitStack() as stack:
        llm = stack.enter_context(fake_llm(args.llm_delay)) if "openai" in args.backends else ""
        data = Path(stack.enter_context(_tempdir()))  # shared: the indexes are built once
        for backend in args.backends:
            for reranker in args.rerankers:
                extra = {"FRONTDESK_GENERATION__BACKEND": backend, "FRONTDESK_KNOWLEDGE__RERANKER": reranker}
                if backend == "openai":
                    extra["FRONTDESK_GENERATION__OPENAI_BASE_URL"] = llm
                workers = Workers(data, url, {**env, **extra})
                try:
                    workers.start(max(args.workers))
                    for count in args.workers:
                        for mode in args.questions:
                            run = asyncio.run(measure(workers, count, backend, mode, args, reranker))
                            runs.append(run)
                            print(f"# {backend} x{count} reranker={reranker} {mode}: {run.row()}", flush=True)
                finally:
                    workers.stop()
    rows = [r.row() for r in runs]
    base = rows[0]
    for row in rows:
        row["msg/s ×"] = ratio(row["msg/s"], base["msg/s"])
        row["p50 ×"] = ratio(row["p50 ms"], base["p50 ms"])
    print(f"\nopen-file limit {limit}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f} at the end")
    print_table(rows, list(rows[0]))
    json_line(
        {
            "bench": "load_ws",
            "load_avg_end": os.getloadavg(),
            "runs": rows,
            "errors": {f"{r.backend}x{r.workers}/{r.reranker}/{r.questions}": dict(r.errors) for r in runs},
        }
    )


@contextlib.contextmanager
def _tempdir() -> Any:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fd-load-") as folder:
        yield folder


if __name__ == "__main__":
    main()
