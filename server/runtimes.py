"""Builds and caches each bot's runtime (knowledge base, intents, rules, generator)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.generation.base import Generator
from bot.generation.factory import create_generator
from bot.intents.classifier import IntentClassifier
from bot.rules import Rule
from bot.runtime import BotRuntime
from bot.types import BotProfile
from knowledge.base import KnowledgeBase
from knowledge.embeddings import EmbedderCache
from knowledge.rerank import Relevance, Reranker, default_reranker
from knowledge.types import ChunkRecord
from server.settings import Settings
from server.store import get_bot
from server.tables import Bot, Chunk, Document, ReplyRule

log = logging.getLogger(__name__)


def index_folder(settings: Settings, slug: str) -> Path:
    """Where a bot's vector index lives."""
    return settings.data_dir / "indexes" / slug


def intent_folder(settings: Settings, slug: str) -> Path:
    """Where a bot's current intent model lives."""
    return settings.data_dir / "intents" / slug / "current"


def profile_of(bot: Bot) -> BotProfile:
    """The pipeline's view of a bot row."""
    profile = BotProfile(slug=bot.slug, name=bot.name, persona=bot.persona, greeting=bot.greeting)
    if bot.fallback:
        profile.fallback = bot.fallback
    return profile


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

    def embedder(self):  # type: ignore[no-untyped-def]
        """The embedding model every bot uses."""
        return self.embedders.get(self.settings.knowledge.embedding_model, self.settings.knowledge.device)

    def reranker(self) -> Reranker | None:
        """The cross-encoder re-ranker, when configured or ('auto') installed."""
        with self._lock:
            if not self._reranker_loaded:
                spec = self.settings.knowledge.reranker
                if spec == "auto":
                    spec = default_reranker()
                self._reranker = Reranker(spec) if spec and spec != "none" else None
                self._reranker_loaded = True
            return self._reranker

    def knowledge(self, slug: str) -> KnowledgeBase:
        """A bot's knowledge base, rebuilt from the database when the index is missing or stale."""
        with self._lock:
            if slug not in self._knowledge:
                kb = KnowledgeBase(
                    index_folder(self.settings, slug), self.embedder(), self.settings.knowledge, self.reranker()
                )
                records = self._chunks_from_db(slug)
                if {r.id for r in records} != set(kb.store.chunks):
                    log.info("index of %s is missing or stale: rebuilding %d chunks", slug, len(records))
                    kb.rebuild(records)
                self._knowledge[slug] = kb
            return self._knowledge[slug]

    def _chunks_from_db(self, slug: str) -> list[ChunkRecord]:
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            rows = session.exec(
                select(Chunk, Document).join(Document).where(Chunk.bot_id == bot.id, Document.status == "ready")
            ).all()
            return [
                ChunkRecord(c.id, d.id, c.text, d.title, c.section, c.anchor, c.url) for c, d in rows
            ]

    def generator(self) -> Generator:
        """The configured generation backend, shared by all bots."""
        with self._lock:
            if self._generator is None:
                relevance = Relevance(self.embedder(), self.reranker())
                self._generator = create_generator(self.settings.generation, relevance)
            return self._generator

    def get(self, slug: str) -> BotRuntime:
        """The runtime of a bot, building it on first use."""
        with self._lock:
            if slug not in self._runtimes:
                self._runtimes[slug] = self._build(slug)
            return self._runtimes[slug]

    def _build(self, slug: str) -> BotRuntime:
        with Session(self.engine) as session:
            bot = get_bot(session, slug)
            rule_rows = session.exec(select(ReplyRule).where(ReplyRule.bot_id == bot.id)).all()
            rules = [
                Rule.from_dict({**r.definition, "name": r.name, "priority": r.priority, "enabled": r.enabled})
                for r in rule_rows
            ]
            profile = profile_of(bot)
        folder = intent_folder(self.settings, slug)
        intents = IntentClassifier.load(folder, self.embedder()) if (folder / "meta.json").exists() else None
        return BotRuntime(
            profile=profile,
            knowledge=self.knowledge(slug),
            generator=self.generator(),
            generation=self.settings.generation,
            intents=intents,
            rules=rules,
        )

    def invalidate(self, slug: str) -> None:
        """Forget a bot's runtime so the next turn sees its new intents, rules or profile."""
        with self._lock:
            self._runtimes.pop(slug, None)

    def close(self) -> None:
        """Close backends that hold connections."""
        close = getattr(self._generator, "close", None)
        if callable(close):
            close()
