"""Console metrics at scale: server.metrics.queries.compute() and the metrics page at 10k..1M messages.

Generates one tenant, one bot and conversations with a realistic mix (customer / bot / agent /
system roles, 20 intents, ~12% fallbacks, failed turns, handoffs, CSAT and thumbs feedback,
traces with per-stage latency_ms, four channels, dates spread over the last 90 days) with bulk
core inserts (executemany in 10k-row batches), growing the same database from one size to the
next. At each size it drops the bot's rollup (the bulk insert wrote past days behind its back),
computes the 90 days once without the rollup (raw_90d: every count from the raw tables), once
cold (cold_90d: builds the rollup of the closed days), then times compute() warm (p50/p95 of
--runs runs) for the whole 90 days, the last 7 days, one channel over 90 days and one intent over
30 days, and at the largest size the console page itself (GET /admin/bots/{slug}/metrics through
the app with a signed-in session, default range: the last 30 days) and a per-part breakdown.
Ratios are against the smallest size, measured in the same process.

Backends: a SQLite file in a temp folder, and PostgreSQL at 127.0.0.1:5432 (a scratch database
fd_metrics_bench is created and dropped).

    .venv/bin/python bench/metrics_scale.py --max 100000
    .venv/bin/python bench/metrics_scale.py                      # up to 1M, both backends
    .venv/bin/python bench/metrics_scale.py --backends sqlite --max 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench._common import print_table, ratio  # noqa: E402
from server.metrics import insights, queries, rollup  # noqa: E402
from server.metrics.queries import compute  # noqa: E402
from server.metrics.scope import Scope  # noqa: E402
from server.tables import Bot, Conversation, Feedback, Message, Tenant, User  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "fd_metrics_bench"
DAYS = 90
BATCH = 10_000
CHANNELS = ("web", "web", "web", "web", "telegram", "whatsapp", "slack")
INTENTS = [f"intent_{i:02d}" for i in range(20)]
STAGES = ("intent", "rules", "retrieve", "generate")
EMAIL = "metrics-bench@example.com"


def _id(rng: random.Random, prefix: str) -> str:
    """A random id shaped like server.tables.new_id (random order, as in production)."""
    return f"{prefix}_{rng.getrandbits(128):032x}"


class Generator:
    """Rows of conversations with their messages and feedback, for one bot."""

    def __init__(self, bot_id: str, today: date, seed: int = 0) -> None:
        self.bot_id, self.rng = bot_id, random.Random(seed)
        self.first = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), UTC)

    def conversation(self) -> tuple[dict, list[dict], list[dict]]:
        """One conversation row, its message rows and its feedback rows (about 8 messages)."""
        rng = self.rng
        at = self.first + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 3600))
        handoff = rng.random() < 0.08
        conv = {
            "id": _id(rng, "c"),
            "bot_id": self.bot_id,
            "channel": rng.choice(CHANNELS),
            "external_user_id": _id(rng, "u"),
            "status": rng.choice(("agent", "resolved")) if handoff else "bot",
            "locale": "en",
            "attributes": {},
            "flow": None,
            "created_at": at,
            "updated_at": at,
        }
        messages: list[dict] = []
        feedback: list[dict] = []
        t = at
        for _ in range(rng.randint(2, 5)):
            t += timedelta(seconds=rng.uniform(5, 120))
            intent = rng.choice(INTENTS) if rng.random() < 0.8 else None
            failed = rng.random() < 0.02
            customer = self._message(
                conv["id"],
                "customer",
                t,
                status="failed" if failed else "answered",
                intent=intent,
                text="where is my order? " * rng.randint(1, 3),
            )
            messages.append(customer)
            if failed:
                continue
            fallback = intent is None and rng.random() < 0.6
            stages = {s: round(rng.lognormvariate(3.5, 0.8), 1) for s in STAGES}
            reply = self._message(
                conv["id"],
                "bot",
                t + timedelta(seconds=1),
                status="sent",
                reply_to=customer["id"],
                intent=intent,
                fallback=fallback,
                text="Here is what I found … " * 3,
                trace={"intent": intent, "rule": None, "passages": [1, 2, 3], "model": "local", "latency_ms": stages},
            )
            messages.append(reply)
            if rng.random() < 0.1:
                feedback.append(self._feedback(conv["id"], "thumb", rng.choice((1, 1, 1, -1)), reply["id"], t))
        if handoff:
            t += timedelta(seconds=30)
            messages.append(self._message(conv["id"], "system", t, status="sent", text="handed over to an agent"))
            for _ in range(2):
                t += timedelta(seconds=rng.uniform(20, 300))
                messages.append(self._message(conv["id"], "agent", t, status="sent", text="Hi, I can help."))
        if rng.random() < 0.3:
            feedback.append(self._feedback(conv["id"], "csat", rng.randint(1, 5), None, t + timedelta(minutes=1)))
        return conv, messages, feedback

    def _message(self, conversation_id: str, role: str, at: datetime, **values: Any) -> dict:
        row = {
            "id": _id(self.rng, "msg"),
            "conversation_id": conversation_id,
            "role": role,
            "client_id": None,
            "reply_to": None,
            "intent": None,
            "fallback": False,
            "citations": [],
            "trace": None,
            "created_at": at,
        }
        row.update(values)
        return row

    def _feedback(self, conversation_id: str, kind: str, score: int, message_id: str | None, at: datetime) -> dict:
        return {
            "id": _id(self.rng, "f"),
            "bot_id": self.bot_id,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "kind": kind,
            "score": score,
            "comment": None,
            "created_at": at,
        }


def fill(engine: Engine, gen: Generator, messages: int) -> int:
    """Insert conversations until about `messages` more messages exist; the number inserted."""
    done = 0
    while done < messages:
        convs: list[dict] = []
        msgs: list[dict] = []
        fbs: list[dict] = []
        while len(msgs) < BATCH and done + len(msgs) < messages:
            conv, m, f = gen.conversation()
            convs.append(conv)
            msgs.extend(m)
            fbs.extend(f)
        with engine.begin() as connection:
            connection.execute(Conversation.__table__.insert(), convs)  # type: ignore[attr-defined]
            connection.execute(Message.__table__.insert(), msgs)  # type: ignore[attr-defined]
            if fbs:
                connection.execute(Feedback.__table__.insert(), fbs)  # type: ignore[attr-defined]
        done += len(msgs)
    return done


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 (nearest rank) of fn's wall time in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, -(-len(times) * 95 // 100) - 1)]


def breakdown(engine: Engine, scope: Scope) -> dict[str, float]:
    """Milliseconds of each part of compute() for scope, rollup warm (median of three runs)."""
    parts: dict[str, Callable[[Session], Any]] = {
        "rollup_load": lambda s: rollup.load(s, scope.bot_id, scope.start, scope.end),
        "answer_latency": lambda s: queries.latency_percentiles(s, scope),
        "first_response": lambda s: insights.first_response_percentiles(s, scope),
        "unanswered": lambda s: queries.unanswered(s, scope),
        "clusters": lambda s: insights.unanswered_clusters(s, scope),
        "knowledge_gaps": lambda s: insights.knowledge_gaps(s, scope),
    }
    out = {}
    with Session(engine) as session:
        for name, fn in parts.items():
            out[name] = round(statistics.median(_once(lambda f=fn: f(session)) for _ in range(3)), 1)
    return out


def _once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def page_timer(settings: Any, services: Any, slug: str) -> Callable[[], Any]:
    """A function that GETs the console metrics page with a signed-in session (asserts a 200)."""
    from fastapi.testclient import TestClient
    from sqlmodel import select

    from admin import sessions
    from server.app import create_app

    with Session(services.engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.email == EMAIL)).one()
        raw, _ = sessions.start(session, user, "127.0.0.1", "bench")
    client = TestClient(create_app(settings, services))
    client.__enter__()
    headers = {"Cookie": f"{sessions.COOKIE}={raw}"}

    def get() -> None:
        response = client.get(f"/admin/bots/{slug}/metrics", headers=headers)
        assert response.status_code == 200 and "Metrics" in response.text, response.text[:300]

    get.client = client  # type: ignore[attr-defined]
    return get


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database URL for backend; PostgreSQL's scratch database is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'metrics.db'}"
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        admin.dispose()


def run_backend(backend: str, sizes: list[int], runs: int, page: bool, raw: bool = True) -> list[dict]:
    """Grow one database through sizes and measure at each; one row per size."""
    from server.context import Services
    from server.settings import Settings

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data", database_url=url, seed_demo=False)
        services = Services.open(settings)
        today = datetime.now(UTC).date()
        with Session(services.engine, expire_on_commit=False) as session:
            tenant = Tenant(name="Bench")
            session.add(tenant)
            session.flush()  # no ORM relationships: the tenant row goes first by hand
            bot = Bot(tenant_id=tenant.id, slug="metrics-bench", name="Metrics bench")
            session.add_all([bot, User(tenant_id=tenant.id, email=EMAIL, password_hash="-", role="owner")])
            session.commit()
        gen = Generator(bot.id, today)
        scopes = {
            "90d": Scope(bot.id, today - timedelta(days=DAYS - 1), today),
            "7d": Scope(bot.id, today - timedelta(days=6), today),
            "90d_telegram": Scope(bot.id, today - timedelta(days=DAYS - 1), today, channel="telegram"),
            "30d_intent": Scope(bot.id, today - timedelta(days=29), today, intent="intent_03"),
        }
        total = 0
        for n in sizes:
            start = time.perf_counter()
            total += fill(services.engine, gen, n - total)
            insert_s = time.perf_counter() - start
            if backend == "postgresql":
                with services.engine.connect() as connection:
                    connection.execute(text("ANALYZE"))
                    connection.commit()
            row: dict[str, Any] = {"backend": backend, "messages": total, "insert_s": round(insert_s, 1)}
            with Session(services.engine) as session:
                rollup.reset(session, bot.id)  # the bulk insert wrote past days behind the rollup's back
                if raw:  # the same figures without the rollup: every count from the raw tables
                    row["raw_90d_ms"] = round(_once(lambda ses=session: compute(ses, scopes["90d"], use_rollup=False)))
                row["cold_90d_ms"] = round(_once(lambda ses=session: compute(ses, scopes["90d"])))  # builds it
            for name, scope in scopes.items():
                with Session(services.engine) as session:
                    p50, p95 = timed(lambda s=scope, ses=session: compute(ses, s), runs)
                row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = round(p50, 1), round(p95, 1)
            if n == sizes[-1]:
                row["breakdown_90d_ms"] = breakdown(services.engine, scopes["90d"])
            if page and n == sizes[-1]:
                get = page_timer(settings, services, "metrics-bench")
                row["page_p50_ms"], row["page_p95_ms"] = (round(v, 1) for v in timed(get, runs))
                get.client.__exit__(None, None, None)  # type: ignore[attr-defined]
            rows.append(row)
            print(row, flush=True)
        services.close()
    return rows


def main() -> None:
    """Run the benchmark and print the table and the ratios against the smallest size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1_000_000, help="largest size (10k, 100k, 1M up to it)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (after one warm-up)")
    parser.add_argument("--no-page", action="store_true", help="skip the page render at the largest size")
    parser.add_argument("--no-raw", action="store_true", help="skip the one run without the rollup (slow at 1M)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max] or [args.max]
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start, sizes {sizes}, "
        f"{args.runs} runs per figure",
        flush=True,
    )
    rows: list[dict] = []
    for backend in args.backends.split(","):
        rows.extend(run_backend(backend.strip(), sizes, args.runs, not args.no_page, not args.no_raw))
    columns = [
        "backend",
        "messages",
        "insert_s",
        "raw_90d_ms",
        "cold_90d_ms",
        "90d_p50_ms",
        "90d_p95_ms",
        "7d_p50_ms",
        "7d_p95_ms",
        "90d_telegram_p50_ms",
        "90d_telegram_p95_ms",
        "30d_intent_p50_ms",
        "30d_intent_p95_ms",
        "page_p50_ms",
        "page_p95_ms",
    ]
    print()
    print_table(rows, columns)
    print("\nratios of p50 to the smallest size of the same backend:")
    for row in rows:
        base = next(r for r in rows if r["backend"] == row["backend"])
        print(
            f"  {row['backend']:<10} {row['messages']:>9,}  90d {ratio(row['90d_p50_ms'], base['90d_p50_ms'])}x"
            f"  7d {ratio(row['7d_p50_ms'], base['7d_p50_ms'])}x"
            f"  telegram {ratio(row['90d_telegram_p50_ms'], base['90d_telegram_p50_ms'])}x"
        )
    for row in rows:
        if "breakdown_90d_ms" in row:
            print(f"per query, 90 days, {row['backend']} at {row['messages']:,} (ms): {row['breakdown_90d_ms']}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
