"""One error hierarchy, rendered in one shape over HTTP and the websocket."""

from __future__ import annotations

import gettext
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Translatable(Protocol):
    """A message that the console can show in the reader's language (admin/i18n.py ``Msg``).

    ``str()`` of it is the English text.
    """

    def localize(self, catalog: gettext.NullTranslations) -> str:
        """The message in the catalog's language."""
        ...


class FrontdeskError(Exception):
    """An error whose message is safe to show to the caller.

    The message is text or a ``Translatable``; ``message`` and ``str(error)`` are always English
    (logs, the JSON API), and ``translatable`` keeps the original for the console to translate.
    """

    code = "error"
    status = 400

    def __init__(self, message: str | Translatable, code: str | None = None, status: int | None = None) -> None:
        self.message = str(message)
        self.translatable = message if isinstance(message, Translatable) else None
        super().__init__(self.message)
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
    headers = {"Retry-After": "5"}  # the pool reconnects as soon as the database is back
