"""CSRF protection for cookie-authenticated requests: a synchronizer token bound to the session.

Every unsafe request (POST, PUT, PATCH, DELETE) signed in by the session cookie must carry the
session's token: the `X-CSRF-Token` header (fetch), the `csrf_token` form field (url-encoded
forms), or, for multipart uploads whose body the route streams itself, `?csrf_token=` in the
form's action. Templates get `csrf_input()`, `csrf_token()` and `csrf_query()`.

Forms shown before a session exists (sign-in, accepting an invite) use a double-submit token:
a random value in the `frontdesk_form` cookie (SameSite=Lax, so a cross-site post lacks it) that
the form must echo.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.responses import Response

HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
FORM_COOKIE = "frontdesk_form"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def tokens_match(sent: str | None, expected: str) -> bool:
    """Constant-time comparison; an absent or empty token never matches."""
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())  # type: ignore[union-attr]


async def sent_csrf_token(request: Request) -> str | None:
    """The CSRF token an unsafe request carries (header, url-encoded field or multipart query), if any."""
    if request.method not in UNSAFE_METHODS or request.headers.get("authorization"):
        return None
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else None
    if content_type.startswith("multipart/form-data"):  # the body is streamed by the route: never read it here
        return request.query_params.get(FIELD)
    return None


def _session_token(context: Any) -> str:
    request = context.get("request")
    row = getattr(request.state, "console_session", None) if request is not None else None
    return row.csrf_token if row is not None else str(context.get("form_token") or "")


@pass_context
def csrf_token(context: Any) -> str:
    """The page's CSRF token (for the meta tag)."""
    return _session_token(context)


@pass_context
def csrf_input(context: Any) -> Markup:
    """The hidden form field carrying the CSRF token."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(_session_token(context))}">')


@pass_context
def csrf_query(context: Any) -> str:
    """`csrf_token=...` for the action URL of a multipart form."""
    return urlencode({FIELD: _session_token(context)})


def form_token(request: Request) -> str:
    """The double-submit token for a form shown before sign-in (the cookie's, or a new one)."""
    current = request.cookies.get(FORM_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(32)


def set_form_cookie(response: Response, token: str, secure: bool) -> None:
    """Send the double-submit cookie with the page that shows the form."""
    response.set_cookie(FORM_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/admin")


def form_token_ok(request: Request, sent: str) -> bool:
    """The posted form echoes the double-submit cookie."""
    return tokens_match(sent, request.cookies.get(FORM_COOKIE, ""))
