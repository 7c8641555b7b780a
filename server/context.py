"""The long-lived services of one process: settings, database engine, models and bot runtimes.

Built by the app's lifespan and by each CLI command, never at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from knowledge.embeddings import EmbedderCache
from server.db import create_db_engine, migrate
from server.runtimes import RuntimeRegistry
from server.secret_box import SecretBox
from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What routes and commands share."""

    settings: Settings
    engine: Engine
    embedders: EmbedderCache = field(default_factory=EmbedderCache)
    runtimes: RuntimeRegistry = field(init=False)
    secrets: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.runtimes = RuntimeRegistry(self.settings, self.engine, self.embedders)
        self.secrets = SecretBox.from_settings(self.settings)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Connect to the database and migrate it to the newest schema."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_db_engine(settings.db_url)
        migrate(engine)
        return cls(settings, engine)

    def close(self) -> None:
        """Release models, HTTP clients and database connections."""
        self.runtimes.close()
        self.engine.dispose()
