"""The `frontdesk` command line (contract in DESIGN.md: names stay stable)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlmodel import Session, select

from bot.errors import BotError
from knowledge.errors import KnowledgeError
from server.context import Services
from server.errors import FrontdeskError
from server.settings import Settings

app = typer.Typer(help="Frontdesk: a self-hosted customer-service bot.", no_args_is_help=True, add_completion=False)
bots_app = typer.Typer(help="Create and list bots.", no_args_is_help=True)
kb_app = typer.Typer(help="Fill and search a bot's knowledge base.", no_args_is_help=True)
intents_app = typer.Typer(help="Train and evaluate a bot's intent model.", no_args_is_help=True)
app.add_typer(bots_app, name="bots")
app.add_typer(kb_app, name="kb")
app.add_typer(intents_app, name="intents")
channels_app = typer.Typer(help="Connect a bot to messaging platforms.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")

BotOpt = Annotated[str, typer.Option("--bot", help="The bot's slug.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
EXPECTED = (FrontdeskError, KnowledgeError, BotError, ValueError, OSError)


def fail(message: str) -> NoReturn:
    """Print a one-line reason and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    """Print JSON to stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def ensure_demo(svc: Services, bot: str) -> None:
    """On an empty database, create the demo bot first (as `serve` does)."""
    from server.seed import is_empty, seed_demo

    if bot == "demo" and svc.settings.seed_demo and is_empty(svc.runtimes):
        typer.echo("Empty database: creating the demo bot first...", err=True)
        seed_demo(svc.runtimes)


@contextmanager
def services() -> Iterator[Services]:
    """Open the database (migrated) and the model cache for one command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        svc = Services.open(Settings())
    except EXPECTED as exc:
        fail(str(exc))
    try:
        yield svc
    except EXPECTED as exc:
        fail(str(exc))
    finally:
        svc.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the API, websocket, widget page and admin console."""
    import uvicorn

    from server.app import create_app
    from server.seed import is_empty, seed_demo

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with services() as svc:
        if settings.seed_demo and is_empty(svc.runtimes):
            typer.echo("Empty database: creating the demo bot (first run takes a minute)...")
            seeded = seed_demo(svc.runtimes)
            typer.echo(f"Demo bot '{seeded.bot_slug}' created with {seeded.documents} documents.")
            typer.echo(f"Console login (shown once): {seeded.admin_email} / {seeded.admin_password}")
        for bot_slug in _bot_slugs(svc):
            svc.runtimes.get(bot_slug)  # load models and indexes before the first customer arrives
        base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
        typer.echo(f"Chat demo page:  {base}/")
        typer.echo(f"Admin console:   {base}/admin/")
        typer.echo(f"API docs:        {base}/docs")
        uvicorn.run(create_app(settings, svc), host=settings.host, port=settings.port, log_level="info")


def _bot_slugs(svc: Services) -> list[str]:
    from server.tables import Bot

    with Session(svc.engine) as session:
        return list(session.exec(select(Bot.slug)).all())


@bots_app.command("create")
def bots_create(slug: str, name: Annotated[str | None, typer.Option(help="Display name.")] = None) -> None:
    """Create a bot."""
    import re

    from server.errors import Conflict
    from server.seed import create_bot
    from server.tables import Bot, Tenant

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", slug):
        fail("slug must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
    with services() as svc, Session(svc.engine) as session:
        if session.exec(select(Bot).where(Bot.slug == slug)).first():
            raise Conflict(f"bot {slug!r} already exists")
        tenant = session.exec(select(Tenant)).first()
        if tenant is None:
            tenant = Tenant(name="Default")
            session.add(tenant)
            session.commit()
        create_bot(session, tenant.id, slug, name or slug)
        typer.echo(f"created bot {slug}")


@bots_app.command("list")
def bots_list(as_json: JsonOpt = False) -> None:
    """List bots."""
    from server.tables import Bot

    with services() as svc, Session(svc.engine) as session:
        rows = [{"slug": b.slug, "name": b.name} for b in session.exec(select(Bot).order_by(Bot.slug)).all()]
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            typer.echo(f"{row['slug']}\t{row['name']}")


@kb_app.command("ingest")
def kb_ingest(bot: BotOpt, paths: Annotated[list[Path], typer.Argument(help="Files or folders.")]) -> None:
    """Add documents (Markdown, text, HTML, PDF, DOCX, CSV/XLSX FAQ tables) to a bot's knowledge."""
    from server.ingest import IngestResult, expand_paths, ingest_paths
    from server.store import get_bot

    with services() as svc:
        with Session(svc.engine) as session:
            get_bot(session, bot)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            fail(f"no such file or folder: {', '.join(missing)}")
        total = len(expand_paths(paths))
        with typer.progressbar(length=total, label="Ingesting", file=sys.stderr) as bar:

            def step(_: IngestResult) -> None:
                bar.update(1)

            results = ingest_paths(svc.runtimes, bot, paths, step)
    for r in results:
        status = "unchanged" if r.unchanged else (f"{r.chunks} chunks" if r.ok else f"FAILED: {r.error}")
        typer.echo(f"{r.source}: {status}")
    failed = sum(not r.ok for r in results)
    typer.echo(f"{len(results) - failed} ingested, {failed} failed")
    if failed:
        raise typer.Exit(1)


@kb_app.command("search")
def kb_search(
    bot: BotOpt,
    query: str,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Number of results.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Search a bot's knowledge base."""
    if not query.strip():
        fail("query is empty")
    with services() as svc:
        ensure_demo(svc, bot)
        result = svc.runtimes.knowledge(bot).search(query, k)
    if as_json:
        print_json({"query": query, "confident": result.confident, "hits": [h.to_dict() for h in result.hits]})
        return
    for n, hit in enumerate(result.hits, 1):
        chunk = hit.chunk
        where = f"{chunk.title} > {chunk.section}" if chunk.section not in ("", chunk.title) else chunk.title
        typer.echo(f"{n}. [{hit.score:.3f}] {where}\n   {' '.join(hit.chunk.text.split())[:200]}")


def _intent_command(bot: str, data: Path, action: Callable[[Services, Any], Any]) -> Any:
    from bot.intents.data import read_csv
    from server.store import get_bot

    with services() as svc:
        with Session(svc.engine) as session:
            get_bot(session, bot)
        return action(svc, read_csv(data))


@intents_app.command("train")
def intents_train(bot: BotOpt, data: Annotated[Path, typer.Option("--data", help="CSV file.")]) -> None:
    """Train a bot's intent model from a CSV (text + intent/label/category)."""
    from server.intent_training import train

    typer.echo("Embedding examples and training...", err=True)
    report = _intent_command(bot, data, lambda svc, ex: train(svc.runtimes, bot, ex))
    typer.echo(
        f"trained {report.intents} intents on {report.examples} examples "
        f"({report.oos_examples} out-of-scope) in {report.seconds}s; threshold {report.threshold}"
    )


@intents_app.command("eval")
def intents_eval(
    bot: BotOpt, data: Annotated[Path, typer.Option("--data", help="CSV file.")], as_json: JsonOpt = False
) -> None:
    """Evaluate a bot's intent model on a labelled CSV."""
    from server.intent_training import evaluate_bot

    scores = _intent_command(bot, data, lambda svc, ex: evaluate_bot(svc.runtimes, bot, ex))
    if as_json:
        print_json(scores)
    else:
        for key, value in scores.items():
            typer.echo(f"{key}: {value}")


@app.command()
def chat(bot: BotOpt, message: str, as_json: JsonOpt = False) -> None:
    """Send one message through the whole pipeline and print the reply."""
    import asyncio

    from server import store
    from server.chat import ChatService

    with services() as svc:
        ensure_demo(svc, bot)
        with Session(svc.engine, expire_on_commit=False) as session:
            bot_row = store.get_bot(session, bot)
        svc.runtimes.get(bot)  # a misconfigured model fails here, with its reason, not mid-turn
        with Session(svc.engine, expire_on_commit=False) as session:
            conversation = store.start_conversation(session, bot_row, "cli")
        outcome = asyncio.run(ChatService(svc).turn(bot_row, conversation, message, None))
    reply = outcome.reply
    assert reply is not None  # a new conversation belongs to the bot
    if as_json:
        print_json(
            {
                "conversation_id": conversation.id,
                "message_id": outcome.customer.id,
                "reply": reply.text,
                "citations": reply.citations,
                "intent": reply.intent,
                "fallback": reply.fallback,
                "trace": reply.trace,
            }
        )
        return
    typer.echo(reply.text)
    for c in reply.citations:
        typer.echo(f"  [{c['n']}] {c['document']}{' > ' + c['section'] if c['section'] else ''}  {c['url']}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Benchmark script in bench/, without .py")]
) -> None:
    """Run a benchmark from bench/ (extra arguments are passed on)."""
    import runpy

    script = Path.cwd() / "bench" / f"{name}.py"
    if not script.is_file():
        available = sorted(p.stem for p in (Path.cwd() / "bench").glob("*.py") if not p.stem.startswith("_"))
        fail(f"no benchmark {name!r} in ./bench; available: {', '.join(available) or 'none'}")
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")


@channels_app.command("add")
def channels_add(
    bot: BotOpt,
    kind: Annotated[str, typer.Option("--kind", help="Platform: see docs/channels.md.")],
    name: Annotated[str, typer.Option("--name", help="A name unique for this bot.")],
    sets: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE (repeatable).")] = None,
) -> None:
    """Add a messaging channel to a bot and print the webhook path to register."""
    from server.channels.configs import add_channel, parse_sets

    with services() as svc:
        channel, generated = add_channel(svc.engine, bot, kind, name, parse_sets(sets or []))
    typer.echo(f"added {kind} channel {name!r} ({channel.id})")
    typer.echo(f"webhook path: {channel.path}  (register https://YOUR-HOST{channel.path})")
    for key, value in generated.items():
        typer.echo(f"generated {key} (shown once, give it to the platform): {value}")


@channels_app.command("list")
def channels_list(bot: BotOpt, as_json: JsonOpt = False) -> None:
    """List a bot's channels with their webhook paths (secrets masked)."""
    from dataclasses import asdict

    from server.channels.configs import list_channels

    with services() as svc:
        rows = list_channels(svc.engine, bot)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        typer.echo(f"{r.id}\t{r.kind}\t{r.name}\t{state}\t{r.path}")
