"""Who is calling: a console session (cookie + CSRF token) or an API key (`Authorization: Bearer fd_...`).

`CurrentUser` is the dependency every console page and every signed-in API route takes. A
browser session must send its CSRF token with every unsafe request (admin/csrf.py); an API key
carries no ambient credential, so it needs none. API keys work on /api/v1 only, never on the
console's pages. Roles rank owner > admin > agent > viewer, per tenant.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlmodel import Session

from admin import api_keys, sessions
from admin.csrf import UNSAFE_METHODS, sent_csrf_token, tokens_match
from admin.i18n import Msg
from server.errors import FrontdeskError
from server.tables import User

hasher = PasswordHasher()
# Verified against when the e-mail is unknown or the user is disabled, so timing reveals neither.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
DISABLED = "!"  # prefix of a disabled user's password hash (admin/operator_accounts.py), as `passwd -l` does

ROLES = ("owner", "admin", "agent", "viewer")
RANK = {"viewer": 0, "agent": 1, "admin": 2, "owner": 3}
MANAGERS = ("owner", "admin")  # may change settings, secrets and customers' data; agents and viewers may not
MIN_PASSWORD = 10


class NotSignedIn(FrontdeskError):
    """No valid session cookie or API key: the console redirects to the sign-in page, the API answers 401."""

    code = "unauthorized"
    status = 401


class Forbidden(FrontdeskError):
    """The signed-in user's role does not allow this."""

    code = "forbidden"
    status = 403


def is_disabled(user: User) -> bool:
    """Whether the user was disabled: their hash has the DISABLED prefix and verifies no password."""
    return user.password_hash.startswith(DISABLED)


def verify_password(user: User | None, password: str) -> bool:
    """Check a password against the user's argon2 hash; an unknown or disabled user costs the same time, and fails."""
    stored = user.password_hash if user is not None and not is_disabled(user) else None
    try:
        return hasher.verify(stored or _DUMMY_HASH, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def client_ip(request: Request) -> str | None:
    """The caller's address as the server sees it (no proxy headers are trusted here)."""
    return request.client.host if request.client else None


def _from_api_key(request: Request, session: Session, credentials: str) -> User:
    if request.url.path.startswith("/admin"):
        raise NotSignedIn(Msg("API keys work on /api/v1 only; sign in to use the console"))
    found = api_keys.authenticate(session, credentials.strip())
    if found is None:
        raise NotSignedIn(Msg("unknown or revoked API key"), code="invalid_api_key")
    key, user = found
    request.state.api_key = key
    return user


def current_user(request: Request, sent: Annotated[str | None, Depends(sent_csrf_token)]) -> User:
    """The signed-in user (or the API key's stand-in user), or 401; unsafe cookie requests need the CSRF token."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        if scheme.lower() == "bearer":
            return _from_api_key(request, session, credentials)
        raw = request.cookies.get(sessions.COOKIE, "")
        found = sessions.find(session, raw) if raw else None
    if found is not None and is_disabled(found[1]):
        found = None  # disabling ends the sessions; this closes the race with a sign-in in flight
    if found is None:
        raise NotSignedIn(Msg("sign in first") if not raw else Msg("your session has ended; sign in again"))
    row, user = found
    if request.method in UNSAFE_METHODS and not tokens_match(sent, row.csrf_token):
        raise Forbidden(Msg("missing or wrong CSRF token; reload the page and try again"), code="csrf_failed")
    request.state.console_session = row
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_editor(user: User, what: str) -> None:
    """Viewers may look, not change: refuse them `what` (e.g. "change rules").

    Console callers mark `what` with ``N_()`` so the refusal is shown translated.
    """
    if user.role not in RANK or user.role == "viewer":
        raise Forbidden(Msg("viewers cannot %(what)s", what=Msg(what)))


def require_manager(user: User, what: str) -> None:
    """Only owners and admins may do `what` (e.g. "change the widget"; mark it with ``N_()``)."""
    if user.role not in MANAGERS:
        raise Forbidden(Msg("only owners and admins can %(what)s", what=Msg(what)))


def require_owner(user: User, what: str) -> None:
    """Only owners may do `what` (e.g. "make someone an admin"; mark it with ``N_()``)."""
    if user.role != "owner":
        raise Forbidden(Msg("only owners can %(what)s", what=Msg(what)))


def check_password(password: str, confirm: str | None = None) -> None:
    """Refuse a password that is too short, too long or mistyped; FrontdeskError says which."""
    if confirm is not None and password != confirm:
        raise FrontdeskError(Msg("the two passwords differ"), code="bad_password")
    if len(password) < MIN_PASSWORD:
        raise FrontdeskError(Msg("use at least %(n)s characters", n=MIN_PASSWORD), code="bad_password")
    if len(password) > 1024:
        raise FrontdeskError(Msg("use at most %(n)s characters", n=1024), code="bad_password")
