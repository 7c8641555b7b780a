"""Errors of the bot package, each naming the stage that failed."""


class BotError(Exception):
    """Base class for bot errors."""


class StageError(BotError):
    """A pipeline stage failed; carries the stage name."""

    def __init__(self, stage: str, message: str = "") -> None:
        super().__init__(f"stage {stage!r} failed{': ' + message if message else ''}")
        self.stage = stage


class ConfigError(BotError):
    """A setting names something that does not exist or cannot load."""


class GenerationUnavailable(BotError):
    """A generation backend is down, timed out or returned nothing usable."""
