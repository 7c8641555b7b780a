"""Console sign-in: HTTP Basic against argon2 password hashes (full accounts come later)."""

from __future__ import annotations

import secrets
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel import Session, select

from server.errors import FrontdeskError
from server.tables import User

basic = HTTPBasic(realm="Frontdesk console")
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal which e-mails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def current_user(request: Request, credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> User:
    """The signed-in console user, or 401."""
    with Session(request.app.state.services.engine) as session:
        user = session.exec(select(User).where(User.email == credentials.username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, credentials.password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise HTTPException(401, "wrong e-mail or password", headers={"WWW-Authenticate": "Basic"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]

MANAGERS = ("owner", "admin")  # may change settings, secrets and customers' data; agents and viewers may not


class Forbidden(FrontdeskError):
    """The signed-in user's role does not allow this."""

    code = "forbidden"
    status = 403


def require_editor(user: User, what: str) -> None:
    """Viewers may look, not change: refuse them `what` (e.g. "change rules")."""
    if user.role == "viewer":
        raise Forbidden(f"viewers cannot {what}")


def require_manager(user: User, what: str) -> None:
    """Only owners and admins may do `what` (e.g. "change the widget")."""
    if user.role not in MANAGERS:
        raise Forbidden(f"only owners and admins can {what}")

