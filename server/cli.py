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
secrets_app = typer.Typer(help="Encryption of stored secrets.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
privacy_app = typer.Typer(help="Export or delete a customer's data; apply retention.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
rules_app = typer.Typer(help="Keep a bot's reply rules in a YAML file (e.g. in git).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
users_app = typer.Typer(help="Console accounts: create, list, reset passwords, disable.", no_args_is_help=True)
app.add_typer(users_app, name="users")

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
    """Add documents (Markdown, text, HTML, PDF, DOCX, CSV/XLSX FAQ tables) to a bot's knowledge.

    Every good file is ingested even when others fail; the exit status is 1 if any failed.
    """
    from server.ingest import expand_paths
    from server.store import get_bot

    with services() as svc:
        with Session(svc.engine) as session:
            get_bot(session, bot)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            fail(f"no such file or folder: {', '.join(missing)}")
        files = expand_paths(paths)
        if not files:
            fail(f"no supported files in {', '.join(map(str, paths))}")
        results = _ingest_with_progress(svc, bot, files)
    for r in results:
        status = "unchanged" if r.unchanged else (f"{r.chunks} chunks" if r.ok else f"FAILED: {r.error}")
        typer.echo(f"{r.source}: {status}")
    failed = [r for r in results if not r.ok]
    typer.echo(f"{len(results) - len(failed)} ingested, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def _ingest_with_progress(svc: Services, bot: str, files: list[Path]) -> list[Any]:
    """Ingest files one by one under a progress bar on stderr: files done, and the current file's percent."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from server.ingest import IngestResult, ingest_paths

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task("files", total=len(files))
        current = bar.add_task("", total=100, visible=False)

        def on_file(path: Path, percent: int) -> None:
            bar.update(current, description=path.name, completed=percent, visible=True)

        def done(result: IngestResult) -> None:
            bar.update(current, completed=0, visible=False)
            bar.advance(overall)
            if not result.ok:
                message = escape(result.error or result.source)
                bar.console.print(f"[red]failed[/red] {message}", highlight=False, soft_wrap=True)

        return ingest_paths(svc.runtimes, bot, files, done, on_file)


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
def intents_train(
    bot: BotOpt,
    data: Annotated[Path, typer.Option("--data", help="CSV file.")],
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Make the new version active (a bot's first always is).")
    ] = True,
) -> None:
    """Train a new version of a bot's intent model from a CSV (text + intent/label/category) and its other examples."""
    from server.intent_training import train

    def action(svc: Services, examples: Any) -> Any:
        with typer.progressbar(length=100, label="Training", file=sys.stderr) as bar:
            done = [0]

            def progress(_: str, fraction: float) -> None:
                step = int(fraction * 100) - done[0]
                if step > 0:
                    bar.update(step)
                    done[0] += step

            return train(svc.runtimes, bot, examples, promote=promote, progress=progress)

    report = _intent_command(bot, data, action)
    typer.echo(
        f"trained {report.intents} intents on {report.examples} examples "
        f"({report.oos_examples} out-of-scope) in {report.seconds}s; threshold {report.threshold}"
    )
    metrics = report.metrics or {}
    held_out = (
        f"held-out accuracy {metrics['accuracy']}, macro F1 {metrics['macro_f1']}"
        if metrics else f"no held-out scores ({report.evaluation})"
    )
    typer.echo(f"version {report.version} ({report.status}); {held_out}")


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


@intents_app.command("models")
def intents_models(bot: BotOpt, as_json: JsonOpt = False) -> None:
    """List the versions of a bot's intent model with their held-out scores."""
    from server.intent_models import list_models, model_summary

    with services() as svc:
        rows = [model_summary(m) for m in list_models(svc.runtimes, bot)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"bot {bot!r} has no intent models yet; run 'frontdesk intents train'")
    for r in rows:
        scores = f"accuracy {r['accuracy']}  macro F1 {r['macro_f1']}" if "accuracy" in r else "not evaluated"
        typer.echo(
            f"v{r['version']}\t{r['status']}\t{r['created_at']}\t{r['intents']} intents, {r['examples']} examples"
            f"\t{scores}"
        )


@intents_app.command("promote")
def intents_promote(
    bot: BotOpt, version: Annotated[int, typer.Argument(help="The version to make active.", min=1)]
) -> None:
    """Make a version of a bot's intent model the active one."""
    from server.intent_models import promote_version

    with services() as svc:
        row = promote_version(svc.runtimes, bot, version)
    typer.echo(f"version {row.version} of {bot} is active")


@intents_app.command("rollback")
def intents_rollback(bot: BotOpt) -> None:
    """Go back to the version of a bot's intent model that was active before the current one."""
    from server.intent_models import rollback

    with services() as svc:
        row = rollback(svc.runtimes, bot)
    typer.echo(f"rolled back: version {row.version} of {bot} is active")


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
        channel, generated = add_channel(svc.engine, svc.secrets, bot, kind, name, parse_sets(sets or []))
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
        rows = list_channels(svc.engine, svc.secrets, bot)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        typer.echo(f"{r.id}\t{r.kind}\t{r.name}\t{state}\t{r.path}")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with the current FRONTDESK_SECRET_KEY.

    Set the new key in FRONTDESK_SECRET_KEY and the old one in FRONTDESK_OLD_SECRET_KEYS first.
    """
    from server.action_secrets import reseal_action_secrets
    from server.channels.configs import reseal_channels
    from server.widget import reseal_identity_secrets

    with services() as svc:
        count = reseal_channels(svc.engine, svc.secrets)
        actions = reseal_action_secrets(svc.engine, svc.secrets)
        identities = reseal_identity_secrets(svc.engine, svc.secrets)
    typer.echo(f"re-encrypted the settings of {count} channel(s), {actions} bot action secret(s) and "
               f"{identities} widget identity secret(s) with the current key")


CustomerArg = Annotated[str, typer.Argument(help="The customer's channel user id, or a conversation id.")]


@privacy_app.command("export")
def privacy_export(bot: BotOpt, customer: CustomerArg) -> None:
    """Print everything stored about one customer as JSON."""
    from server.privacy import export_customer

    with services() as svc:
        print_json(export_customer(svc.engine, bot, customer))


@privacy_app.command("delete")
def privacy_delete(
    bot: BotOpt, customer: CustomerArg, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Delete one customer's conversations, messages and feedback."""
    from server.privacy import delete_customer

    if not yes and not typer.confirm(f"delete all data of customer {customer!r} with bot {bot!r}?"):
        fail("nothing deleted")
    with services() as svc:
        deleted = delete_customer(svc.engine, bot, customer, svc.settings.data_dir)
    typer.echo(
        f"deleted {deleted.conversations} conversation(s), {deleted.messages} message(s), "
        f"{deleted.feedback} feedback row(s)"
    )


@privacy_app.command("purge")
def privacy_purge() -> None:
    """Delete conversations older than their tenant's retention window now (the server does it hourly)."""
    from server.privacy import purge_expired

    with services() as svc:
        done = purge_expired(svc.engine, svc.settings.data_dir)
    typer.echo(f"deleted {done.conversations} expired conversation(s), {done.messages} message(s)")


@rules_app.command("export")
def rules_export(
    bot: BotOpt, out: Annotated[Path | None, typer.Option("--out", help="Write to this file, not stdout.")] = None
) -> None:
    """Print (or write) the bot's reply rules as YAML."""
    from server.rules_io import export_rules

    with services() as svc:
        text = export_rules(svc.runtimes, bot)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")


@rules_app.command("import")
def rules_import(
    bot: BotOpt,
    path: Annotated[Path, typer.Argument(help="A YAML file as written by `rules export`.")],
    merge: Annotated[bool, typer.Option("--merge", help="Keep rules the file does not name.")] = False,
) -> None:
    """Replace the bot's reply rules with a YAML file's (all rules are checked first; nothing changes on error)."""
    from server.rules_io import import_rules

    with services() as svc:  # a missing file (OSError) or a bad rule (ConfigError) is a one-line failure
        written, removed = import_rules(svc.runtimes, bot, path.read_text(encoding="utf-8"), merge=merge)
    typer.echo(f"imported {written} rule(s) into {bot!r}; removed {removed}")


EmailArg = Annotated[str, typer.Argument(help="The user's e-mail address.")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


def read_password(from_stdin: bool) -> str:
    """The new password: --password-stdin, else $FRONTDESK_PASSWORD, else a hidden prompt (never argv)."""
    import os

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin: standard input had no password")
        return password
    if os.environ.get("FRONTDESK_PASSWORD"):
        return os.environ["FRONTDESK_PASSWORD"]
    if not sys.stdin.isatty():
        fail("no password: set FRONTDESK_PASSWORD, pass --password-stdin, or run in a terminal to be asked")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def users_create(
    email: EmailArg,
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant's name or id.")],
    role: Annotated[str, typer.Option("--role", help="owner, admin, agent or viewer.")] = "agent",
    create_tenant: Annotated[
        bool, typer.Option("--create-tenant", help="Create the tenant if none has the name.")
    ] = False,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Add a console user to a tenant (password from a prompt, $FRONTDESK_PASSWORD or --password-stdin)."""
    from admin.auth import ROLES
    from admin.operator_accounts import create_user, find_tenant, normalize_email

    if role not in ROLES:
        fail(f"unknown role {role!r}; a role is one of {', '.join(ROLES)}")
    try:
        normalize_email(email)
    except FrontdeskError as exc:
        fail(exc.message)
    password = read_password(password_stdin)
    with services() as svc, Session(svc.engine) as session:
        row = find_tenant(session, tenant, create=create_tenant)
        user = create_user(session, row, email, role, password)
        typer.echo(f"created {user.role} {user.email} in tenant {row.name} ({row.id})")


@users_app.command("list")
def users_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant (name or id).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List console users with their tenant, role and whether they are disabled."""
    from dataclasses import asdict

    from admin.operator_accounts import find_tenant, list_users

    with services() as svc, Session(svc.engine) as session:
        rows = list_users(session, find_tenant(session, tenant) if tenant else None)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    for r in rows:
        state = "disabled" if r.disabled else "active"
        typer.echo(f"{r.email}\t{r.role}\t{r.tenant}\t{state}\t{r.created_at:%Y-%m-%d}")


@users_app.command("reset-password")
def users_reset_password(email: EmailArg, password_stdin: PasswordStdinOpt = False) -> None:
    """Set a user's password and end all their console sessions."""
    from admin.operator_accounts import find_user, reset_password

    with services() as svc, Session(svc.engine) as session:
        find_user(session, email)  # an unknown user fails before the password is asked for
        ended = reset_password(session, email, read_password(password_stdin))
    typer.echo(f"password of {email.strip().lower()} reset; {ended} session(s) ended")


@users_app.command("disable")
def users_disable(email: EmailArg) -> None:
    """Stop a user from signing in: end their sessions and revoke the API keys they created."""
    from admin.operator_accounts import disable_user

    with services() as svc, Session(svc.engine) as session:
        done = disable_user(session, email)
    who = email.strip().lower()
    if done.already:
        typer.echo(f"{who} was already disabled")
    else:
        typer.echo(f"disabled {who}; {done.sessions_ended} session(s) ended, {done.keys_revoked} API key(s) revoked")


@users_app.command("enable")
def users_enable(email: EmailArg) -> None:
    """Let a disabled user sign in again with their last password."""
    from admin.operator_accounts import enable_user

    with services() as svc, Session(svc.engine) as session:
        changed = enable_user(session, email)
    typer.echo(f"{'enabled' if changed else 'already enabled:'} {email.strip().lower()}")
