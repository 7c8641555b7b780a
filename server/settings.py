"""One typed settings object, read from FRONTDESK_* environment variables and a .env file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.action_settings import ActionSettings
from bot.generation.config import GenerationSettings
from bot.voice.config import VoiceSettings
from knowledge.config import KnowledgeSettings
from server.ratelimit import RateLimitSettings
from server.sweeper import SweeperSettings

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Frontdesk settings; nested ones use '__', e.g. FRONTDESK_GENERATION__BACKEND=local."""

    model_config = SettingsConfigDict(
        env_prefix="FRONTDESK_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    environment: Literal["dev", "production"] = "dev"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(default=None, description="Default: SQLite in data_dir.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = Field(
        default=None, description="Master key: encrypts stored secrets (required in production)."
    )
    old_secret_keys: list[SecretStr] = Field(
        default_factory=list, description="Earlier secret keys, JSON list: they still open old secrets (rotation)."
    )
    seed_demo: bool = True
    max_message_chars: int = Field(default=4000, ge=1, le=100_000)
    max_concurrent_turns: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Pipelines that run at once (more wait, up to rate_limits.max_queued_turns). Unset with the "
        "local batched engine, it follows generation.max_batch so that a full batch can be reached.",
    )
    intent_method: Literal["auto", "finetune", "frozen"] = Field(
        default="auto",
        description="Intent training: auto fine-tunes MiniLM (minutes on a CPU); frozen fits only the head (seconds).",
    )
    max_upload_mb: float = Field(default=50, gt=0, description="Largest file one upload may carry.")
    max_upload_files: int = Field(default=20, ge=1, le=1000, description="Most files per upload.")
    log_level: str = "INFO"
    pii_names_model: bool = Field(
        default=False,
        description="Also find people's names with spaCy's English model (pip install 'frontdesk[pii-ner]').",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0: carry live events between workers (several processes)."
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token Prometheus must send to /metrics (required in production)."
    )
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    actions: ActionSettings = Field(default_factory=ActionSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    sweeper: SweeperSettings = Field(default_factory=SweeperSettings)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key is None or len(self.secret_key.get_secret_value()) < 32
        ):
            raise ValueError("FRONTDESK_SECRET_KEY of at least 32 characters is required in production")
        return self

    @model_validator(mode="after")
    def _fit_turns_to_the_batch(self) -> Settings:
        """Only max_concurrent_turns pipelines can have a request in the local model's batch at once."""
        generation = self.generation
        if generation.backend != "local" or generation.engine != "batched":
            return self
        if "max_concurrent_turns" not in self.model_fields_set:
            self.max_concurrent_turns = max(self.max_concurrent_turns, generation.max_batch)
        elif self.max_concurrent_turns < generation.max_batch:
            log.warning(
                "FRONTDESK_MAX_CONCURRENT_TURNS=%d caps the local model's batch below "
                "FRONTDESK_GENERATION__MAX_BATCH=%d: at most %d requests are ever decoded together",
                self.max_concurrent_turns,
                generation.max_batch,
                self.max_concurrent_turns,
            )
        return self

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'frontdesk.db').resolve()}"
