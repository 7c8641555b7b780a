"""One error hierarchy, rendered in one shape over HTTP and the websocket."""

from __future__ import annotations

from typing import Any


class FrontdeskError(Exception):
    """An error whose message is safe to show to the caller."""

    code = "error"
    status = 400

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status

    def body(self) -> dict[str, Any]:
        """The JSON error shape: {"error": {"code", "message"}}."""
        return {"error": {"code": self.code, "message": self.message}}


class NotFound(FrontdeskError):
    """A named thing does not exist."""

    code = "not_found"
    status = 404


class BadRequest(FrontdeskError):
    """The input is invalid."""

    code = "bad_request"
    status = 400


class Conflict(FrontdeskError):
    """The thing already exists."""

    code = "conflict"
    status = 409


class Unavailable(FrontdeskError):
    """A backing service (the database) cannot be reached; the caller may try again."""

    code = "unavailable"
    status = 503
