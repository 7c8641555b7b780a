"""Pick a generation backend by name."""

from __future__ import annotations

from bot.errors import ConfigError
from bot.generation.base import Generator
from bot.generation.config import GenerationSettings
from bot.generation.extractive import ExtractiveGenerator, Relevance

BACKENDS = ("extractive", "local", "openai")


def create_generator(settings: GenerationSettings, relevance: Relevance) -> Generator:
    """Build the configured backend; 'extractive' needs only a relevance function."""
    if settings.backend == "extractive":
        return ExtractiveGenerator(relevance)
    if settings.backend == "local":
        from bot.generation.local import LocalGenerator

        return LocalGenerator(settings)
    if settings.backend == "openai":
        from bot.generation.openai_compat import OpenAIGenerator

        return OpenAIGenerator(settings)
    raise ConfigError(f"unknown generation backend {settings.backend!r}; known: {list(BACKENDS)}")
