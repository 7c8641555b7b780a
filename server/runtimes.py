"""Builds and caches each bot's runtime (knowledge base, intents, rules, generator)."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.action_settings import ActionSettings
from bot.errors import ConfigError
from bot.generation.base import Generator
from bot.generation.factory import create_generator
from bot.hours import parse_hours
from bot.http_action import HttpServices
from bot.intents import OUT_OF_SCOPE
from bot.intents.classifier import IntentClassifier
from bot.rules import Rule
from bot.runtime import BotRuntime
from bot.types import BotProfile, BotServices
from bot.voice.vocabulary import DomainTexts, texts_from_chunks
from knowledge.base import KnowledgeBase
from knowledge.embeddings import EmbedderCache
from knowledge.rerank import Relevance, Reranker, reranker_for
from knowledge.types import ChunkRecord
from server.action_secrets import load_action_secrets, load_signing_secret
from server.presence import any_agent_online
from server.secret_box import SecretBox
from server.settings import Settings
from server.store import get_bot
from server.tables import Bot, Chunk, Document, Intent, IntentExample, IntentModel, ReplyRule

log = logging.getLogger(__name__)
# how stale a runtime may be after another process (the CLI, another worker) changes its bot's intent
# model, documents or rules
CHANGE_CHECK_SECONDS = 5.0


def index_folder(settings: Settings, slug: str) -> Path:
    """Where a bot's vector index lives."""
    return settings.data_dir / "indexes" / slug


def intent_folder(settings: Settings, slug: str) -> Path:
    """Where a bot's one intent model lived before versions (server/intent_models.py) came."""
    return settings.data_dir / "intents" / slug / "current"


def profile_of(bot: Bot, services: BotServices | None = None) -> BotProfile:
    """The pipeline's view of a bot row: its business hours set its timezone (rules' `time`, `now`)."""
    profile = BotProfile(slug=bot.slug, name=bot.name, persona=bot.persona, greeting=bot.greeting)
    if bot.fallback:
        profile.fallback = bot.fallback
    if bot.hours:
        try:
            profile.hours = parse_hours(bot.hours)
            profile.timezone = profile.hours.timezone
        except ConfigError as exc:  # saved through the API it validates; a hand edit may not
            log.error("business hours of %s left out: %s", bot.slug, exc)
    if services is not None:
        profile.services = services
    return profile


def action_settings(settings: Settings) -> ActionSettings:
    """The HTTP action settings (FRONTDESK_ACTIONS__*), defaults where the settings object has none."""
    configured = getattr(settings, "actions", None)
    return configured if isinstance(configured, ActionSettings) else ActionSettings()


def rule_of(row: ReplyRule) -> Rule:
    """The pipeline's rule from a stored row (when/then JSON, or the old one-reply shape)."""
    return Rule.from_dict({**row.definition, "name": row.name, "priority": row.priority, "enabled": row.enabled})


def load_rules(session: Session, bot_id: str) -> list[Rule]:
    """A bot's rules in priority order; a row that no longer validates is logged and left out."""
    rows = session.exec(
        select(ReplyRule).where(ReplyRule.bot_id == bot_id).order_by(col(ReplyRule.priority), col(ReplyRule.name))
    ).all()
    rules = []
    for row in rows:
        try:
            rules.append(rule_of(row))
        except ConfigError as exc:
            log.error("reply rule %r left out: %s", row.name, exc)
    return rules


class RuntimeRegistry:
    """One runtime per bot, built on first use and rebuilt after its data changes."""

    def __init__(self, settings: Settings, engine: Engine, embedders: EmbedderCache) -> None:
        self.settings = settings
        self.engine = engine
        self.embedders = embedders
        self._runtimes: dict[str, BotRuntime] = {}
        self._knowledge: dict[str, KnowledgeBase] = {}
        self._generator: Generator | None = None
        self._reranker: Reranker | None = None
        self._reranker_loaded = False
        self._lock = threading.RLock()
        self._marks: dict[tuple[str, str], tuple[object, float]] = {}  # (what, slug) -> (fingerprint, checked at)
        self.actions = action_settings(settings)
        self._policy = self.actions.policy()
        self._box: SecretBox | None = None
        self._tls: ssl.SSLContext | None = None

    def bot_services(self, bot: Bot) -> BotServices:
        """What a bot's turns borrow from the server: agent presence, and HTTP actions' secrets and policy."""
        with self._lock:
            if self._box is None:
                self._box = SecretBox.from_settings(self.settings)
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            box, tls = self._box, self._tls
        http = HttpServices(
            policy=self._policy,
            secrets=partial(load_action_secrets, self.engine, box, bot.id),
            signing_secret=partial(load_signing_secret, self.engine, box, bot.id),
            max_total_seconds=self.actions.max_total_seconds,
            max_response_bytes=self.actions.max_response_bytes,
            ssl_context=tls,
        )
        return BotServices(agents_online=partial(any_agent_online, self.engine, bot.tenant_id), http=http)

    def embedder(self):  # type: ignore[no-untyped-def]
        """The embedding model every bot uses."""
        return self.embedders.for_settings(self.settings.knowledge)

    def reranker(self) -> Reranker | None:
        """The cross-encoder re-ranker, when configured or ('auto') installed."""
        with self._lock:
            if not self._reranker_loaded:
                self._reranker = reranker_for(self.settings.knowledge)
                self._reranker_loaded = True
            return self._reranker

    def knowledge(self, slug: str) -> KnowledgeBase:
        """A bot's knowledge base, brought in line with the database when its index is missing or stale."""
        with self._lock:
            kb = self._knowledge.get(slug)
            if kb is None:
                kb = KnowledgeBase(
                    index_folder(self.settings, slug), self.embedder(), self.settings.knowledge, self.reranker()
                )
                self._knowledge[slug] = kb
                self._marks.pop(("knowledge", slug), None)
            if self._stale(("knowledge", slug), self._knowledge_mark, slug):
                reindexed, removed = kb.sync(self._chunks_from_db(slug))
                if reindexed or removed:
                    log.info("index of %s was stale: %d document(s) re-indexed, %d removed", slug, reindexed, removed)
            return kb

    def _stale(self, key: tuple[str, str], mark_of: Callable[[str], object], slug: str) -> bool:
        """Whether the bot's data changed since last looked at (asked at most every few seconds)."""
        seen = self._marks.get(key)
        now = time.monotonic()
        if seen is not None and now - seen[1] < CHANGE_CHECK_SECONDS:
            return False
        mark = mark_of(slug)
        self._marks[key] = (mark, now)
        return seen is None or mark != seen[0]

    def _knowledge_mark(self, slug: str) -> object:
        """A cheap fingerprint of a bot's indexed documents: their count, chunks and newest change."""
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            docs = session.exec(
                select(func.count(col(Document.id)), func.max(Document.updated_at)).where(Document.bot_id == bot.id)
            ).one()
            chunks = session.exec(select(func.count(col(Chunk.id))).where(Chunk.bot_id == bot.id)).one()
        return (tuple(docs), chunks)

    def _rules_mark(self, slug: str) -> object:
        """A fingerprint of a bot's stored rules."""
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            rows = session.exec(select(ReplyRule).where(ReplyRule.bot_id == bot.id)).all()
            return sorted((r.name, r.priority, r.enabled, json.dumps(r.definition, sort_keys=True)) for r in rows)

    def _profile_mark(self, slug: str) -> object:
        """A fingerprint of what the profile is built from (name, texts, business hours)."""
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            return (bot.name, bot.persona, bot.greeting, bot.fallback, json.dumps(bot.hours, sort_keys=True))

    def speech_mark(self, slug: str) -> object:
        """A cheap fingerprint of what a bot's speech vocabulary is built from: intent examples and documents."""
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            examples = session.exec(
                select(func.count(col(IntentExample.id)), func.max(IntentExample.created_at))
                .join(Intent).where(Intent.bot_id == bot.id)
            ).one()
        return (tuple(examples), self._knowledge_mark(slug))

    def speech_texts(self, slug: str) -> DomainTexts:
        """A bot's in-scope intent examples and its knowledge chunks, for its speech vocabulary."""
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            examples = session.exec(
                select(IntentExample.text).join(Intent).where(Intent.bot_id == bot.id, Intent.name != OUT_OF_SCOPE)
            ).all()
        return texts_from_chunks(self._chunks_from_db(slug), examples)

    def reload_profile(self, slug: str) -> None:
        """Give a built runtime the bot's current profile (after its hours or texts changed)."""
        with self._lock:
            runtime = self._runtimes.get(slug)
            if runtime is not None:
                with Session(self.engine) as session:
                    bot = get_bot(session, slug)
                    runtime.profile = profile_of(bot, self.bot_services(bot))

    def _chunks_from_db(self, slug: str) -> list[ChunkRecord]:
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            rows = session.exec(
                select(Chunk, Document).join(Document).where(Chunk.bot_id == bot.id)
            ).all()
            return [
                ChunkRecord(c.id, d.id, c.text, d.title, c.section, c.anchor, c.url) for c, d in rows
            ]

    def generator(self) -> Generator:
        """The configured generation backend, shared by all bots."""
        with self._lock:
            if self._generator is None:
                relevance = Relevance(self.embedder(), self.reranker(), self.settings.knowledge.rerank_cache_size)
                self._generator = create_generator(self.settings.generation, relevance)
            return self._generator

    def get(self, slug: str) -> BotRuntime:
        """The runtime of a bot, building it on first use."""
        with self._lock:
            if slug in self._runtimes and self._stale(("intents", slug), self._intent_mark, slug):
                log.info("the active intent model of %s changed: reloading its runtime", slug)
                del self._runtimes[slug]
            if slug not in self._runtimes:
                self._runtimes[slug] = self._build(slug)
                self._stale(("rules", slug), self._rules_mark, slug)  # remember the rules it was built with
                self._stale(("profile", slug), self._profile_mark, slug)  # and the profile
            else:
                if self._stale(("rules", slug), self._rules_mark, slug):
                    log.info("the reply rules of %s changed: reloading them", slug)
                    self.reload_rules(slug)
                if self._stale(("profile", slug), self._profile_mark, slug):
                    log.info("the profile or business hours of %s changed: reloading them", slug)
                    self.reload_profile(slug)
            self.knowledge(slug)  # the runtime's knowledge base: synced with the database every few seconds
            return self._runtimes[slug]

    def _active_intent_model(self, session: Session, bot_id: str) -> IntentModel | None:
        query = (
            select(IntentModel)
            .where(IntentModel.bot_id == bot_id, IntentModel.status == "active")
            .order_by(col(IntentModel.promoted_at).desc())
        )
        return session.exec(query).first()

    def _intent_mark(self, slug: str) -> object:
        """The active intent model's id: another process (the CLI, another worker) may promote a version."""
        with Session(self.engine) as session:
            active = self._active_intent_model(session, get_bot(session, slug).id)
        return active.id if active else None

    def _build(self, slug: str) -> BotRuntime:
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            rules = load_rules(session, bot.id)
            profile = profile_of(bot, self.bot_services(bot))
            active = self._active_intent_model(session, bot.id)
            self._marks[("intents", slug)] = (active.id if active else None, time.monotonic())  # built with it
        # the active version; before versioned models a bot's one model lived in intent_folder()
        folder = self.settings.data_dir / active.folder if active else intent_folder(self.settings, slug)
        intents = IntentClassifier.load(folder, self.embedder()) if (folder / "meta.json").exists() else None
        return BotRuntime(
            profile=profile,
            knowledge=self.knowledge(slug),
            generator=self.generator(),
            generation=self.settings.generation,
            intents=intents,
            rules=rules,
        )

    def reload_rules(self, slug: str) -> None:
        """Give a built runtime the bot's current reply rules (after a console edit); no restart needed."""
        with self._lock:
            runtime = self._runtimes.get(slug)
            if runtime is not None:
                with Session(self.engine) as session:
                    runtime.rules = load_rules(session, get_bot(session, slug).id)

    def invalidate(self, slug: str) -> None:
        """Forget a bot's runtime so the next turn sees its new intents, rules or profile."""
        with self._lock:
            self._runtimes.pop(slug, None)
            self._marks.pop(("profile", slug), None)

    def close(self) -> None:
        """Close backends that hold connections."""
        close = getattr(self._generator, "close", None)
        if callable(close):
            close()
