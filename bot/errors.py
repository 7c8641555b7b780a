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
    """A generation backend is down or returned nothing usable.

    `outcome` says why, for the trace and the metrics: "down" here, "timeout" and "busy" in the
    subclasses. A busy backend is healthy but full; it is not counted as a failure.
    """

    outcome = "down"


class GenerationTimeout(GenerationUnavailable):
    """A generation backend produced nothing within its time limit."""

    outcome = "timeout"


class GenerationBusy(GenerationUnavailable):
    """A generation backend refused the request because it is full; retry after `retry_after` seconds.

    `in_flight`: the requests this process has running on the backend meanwhile. The local engine
    raises it when its batch and queue are full; the openai backend when the server answers 429 or
    503, with the server's Retry-After (0 when it gave none: the server's own retry_after applies).
    """

    outcome = "busy"

    def __init__(self, in_flight: int, retry_after: float = 2.0, message: str | None = None) -> None:
        super().__init__(message or f"the local model is busy ({in_flight} requests in flight); retry shortly")
        self.in_flight = in_flight
        self.retry_after = retry_after


def generation_outcome(exc: BaseException) -> str:
    """'busy', 'timeout' or 'down' for a GenerationUnavailable; 'error' for any other exception."""
    return exc.outcome if isinstance(exc, GenerationUnavailable) else "error"
