"""Console accounts managed by an operator from the shell (`frontdesk users ...`), outside any tenant's console.

The same rules as the console's users page apply (admin/users.py, admin/auth.py): roles are
owner > admin > agent > viewer, passwords are argon2-hashed and at least MIN_PASSWORD long,
e-mails are unique and lower-case. A disabled user keeps their row, role and audit history,
but cannot sign in: their stored hash gets a `!` prefix (as `passwd -l` does), which no
password verifies, their sessions end and the API keys they created are revoked. Every change
is written to the tenant's audit log: from the shell with the actor "cli:<os user>" (details say
"via": "command line"); disable and enable also serve the console's users page, whose signed-in
user is then the actor.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlmodel import Session, col, select

from admin import api_keys, audit, sessions
from admin.auth import DISABLED, ROLES, check_password, hasher, is_disabled
from admin.i18n import Msg
from admin.invites import EMAIL
from server.errors import BadRequest, Conflict, NotFound
from server.tables import Tenant, User

VIA = {"via": "command line"}


def cli_actor() -> str:
    """Who runs `frontdesk users ...`, for the audit log: "cli:<os user>", or "cli" when the OS cannot say."""
    try:
        name = getpass.getuser().strip()
    except (OSError, KeyError, ImportError):  # no LOGNAME/USER/... and no passwd entry (e.g. a bare container)
        name = ""
    return f"cli:{name[:100]}" if name else "cli"


def _audit(
    session: Session, by: User | None, action: str, target: User, details: dict[str, Any],
    request: Request | None = None,
) -> None:
    """Record an account change: by the console user `by`, or (None) from the shell as cli_actor()."""
    if by is None:
        details = {**details, **VIA}
    audit.record(
        session, by, action, target.email, details, request=request, tenant_id=target.tenant_id,
        actor=None if by else cli_actor(),
    )


@dataclass(frozen=True)
class UserRow:
    """One line of `frontdesk users list`."""

    email: str
    role: str
    tenant: str
    tenant_id: str
    disabled: bool
    created_at: datetime


def normalize_email(email: str) -> str:
    """The stored form of an e-mail (trimmed, lower-case), or BadRequest when it is not one."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise BadRequest(Msg("not an e-mail address: %(email)s", email=repr(email)))
    return email


def find_tenant(session: Session, ref: str, *, create: bool = False) -> Tenant:
    """The tenant whose id or exact name is ref; with create, a new tenant named ref when none is.

    Raises:
        NotFound: no such tenant (the message lists the known ones).
        Conflict: several tenants have that name (use the id).
    """
    found = session.get(Tenant, ref)
    if found is not None:
        return found
    named = session.exec(select(Tenant).where(Tenant.name == ref)).all()
    if len(named) > 1:
        ids = ", ".join(t.id for t in named)
        raise Conflict(
            Msg(
                "%(n)s tenants are named %(name)s; give one of their ids: %(ids)s",
                n=len(named), name=repr(ref), ids=ids,
            )
        )
    if named:
        return named[0]
    if create:
        if not ref.strip() or len(ref) > 200:
            raise BadRequest(Msg("a tenant name is 1-200 characters"))
        tenant = Tenant(name=ref.strip())
        session.add(tenant)
        session.commit()
        return tenant
    known = session.exec(select(Tenant).order_by(col(Tenant.name))).all()
    listed = ", ".join(f"{t.name} ({t.id})" for t in known) or "none"
    raise NotFound(
        Msg("no tenant %(name)s; known tenants: %(known)s (or pass --create-tenant)", name=repr(ref), known=listed),
        code="unknown_tenant",
    )


def find_user(session: Session, email: str) -> User:
    """The user with this e-mail, or NotFound."""
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFound(Msg("no user %(email)s", email=repr(email.strip().lower())), code="unknown_user")
    return user


def create_user(session: Session, tenant: Tenant, email: str, role: str, password: str) -> User:
    """Add a console user to a tenant.

    Raises:
        BadRequest: a bad e-mail or role; FrontdeskError: a bad password; Conflict: the e-mail is taken.
    """
    email = normalize_email(email)
    if role not in ROLES:
        roles = ", ".join(ROLES)
        raise BadRequest(Msg("unknown role %(role)s; a role is one of %(roles)s", role=repr(role), roles=roles))
    check_password(password)
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict(Msg("%(email)s already has a Frontdesk account", email=email))
    user = User(tenant_id=tenant.id, email=email, password_hash=hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    _audit(session, None, "user.create", user, {"role": role})
    return user


def list_users(session: Session, tenant: Tenant | None = None) -> list[UserRow]:
    """Every user (or one tenant's), ordered by tenant name and e-mail."""
    query = select(User, Tenant).where(User.tenant_id == Tenant.id)
    if tenant is not None:
        query = query.where(User.tenant_id == tenant.id)
    rows = session.exec(query.order_by(col(Tenant.name), col(User.email))).all()
    return [UserRow(u.email, u.role, t.name, t.id, is_disabled(u), u.created_at) for u, t in rows]


def reset_password(session: Session, email: str, password: str) -> int:
    """Give a user a new password and end all their sessions; returns how many ended.

    A disabled user stays disabled (`users enable` lets them in again, with this password).
    """
    user = find_user(session, email)
    check_password(password)
    user.password_hash = (DISABLED if is_disabled(user) else "") + hasher.hash(password)
    session.add(user)
    session.commit()
    ended = sessions.end_all(session, user.id)
    _audit(session, None, "user.password_reset", user, {"sessions_ended": ended})
    return ended


def enabled_owners(session: Session, tenant_id: str) -> int:
    """How many of the tenant's owners can sign in."""
    rows = session.exec(select(User.password_hash).where(User.tenant_id == tenant_id, User.role == "owner")).all()
    return sum(not h.startswith(DISABLED) for h in rows)


def lock_owners(session: Session, tenant_id: str) -> None:
    """Hold the tenant's owner changes for this session's transaction (until it commits or rolls back).

    Demoting, disabling or removing an owner checks "someone else can still sign in as owner" and
    then writes; two owners doing that to each other at once would both pass the check. Whoever
    calls this first makes the other wait, so the second one's check sees the first one's change:
    PostgreSQL locks the tenant row (SELECT ... FOR UPDATE); SQLite, which ignores FOR UPDATE,
    takes its database write lock now (BEGIN IMMEDIATE) instead of at the first write. Call it
    before reading what the check needs, and re-read rows loaded earlier (fresh()).
    """
    if session.get_bind().dialect.name == "sqlite":
        driver = session.connection().connection.dbapi_connection
        if driver is not None and not driver.in_transaction:  # pysqlite began none: no write lock held yet
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        return
    session.exec(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update()).first()


def fresh(session: Session, user: User) -> User:
    """The user as the database has it now (after lock_owners), or NotFound when they were removed meanwhile."""
    current = session.get(User, user.id, populate_existing=True)
    if current is None:
        raise NotFound(Msg("no user %(email)s", email=repr(user.email)), code="unknown_user")
    return current


@dataclass(frozen=True)
class Disabled:
    """What disabling a user did."""

    already: bool
    sessions_ended: int = 0
    keys_revoked: int = 0


def disable_user(session: Session, email: str, *, by: User | None = None, request: Request | None = None) -> Disabled:
    """Stop a user from signing in: lock the hash, end their sessions, revoke the API keys they created.

    Args:
        session: the database session (it is committed).
        email: the user to disable.
        by: the console user doing it, the audit actor; None from the shell (cli_actor()).
        request: the console request, for the audit row's address.

    Raises:
        NotFound: no such user; Conflict: the user is their tenant's last owner who can sign in.
    """
    user = find_user(session, email)
    lock_owners(session, user.tenant_id)
    user = fresh(session, user)
    if is_disabled(user):
        session.rollback()
        return Disabled(already=True)
    if user.role == "owner" and enabled_owners(session, user.tenant_id) <= 1:
        refused = Conflict(
            Msg(
                "%(email)s is the tenant's last owner who can sign in; make someone else an owner first",
                email=user.email,
            )
        )
        session.rollback()  # let go of the owner lock now, not when the caller closes the session
        raise refused
    user.password_hash = DISABLED + user.password_hash
    session.add(user)
    session.commit()
    ended = sessions.end_all(session, user.id)
    revoked = api_keys.revoke_created_by(session, user.id)
    _audit(session, by, "user.disable", user, {"sessions_ended": ended, "keys_revoked": revoked}, request)
    return Disabled(already=False, sessions_ended=ended, keys_revoked=revoked)


def enable_user(session: Session, email: str, *, by: User | None = None, request: Request | None = None) -> bool:
    """Let a disabled user sign in again with their last password; False when they were not disabled.

    `by` and `request` are as for disable_user.
    """
    user = find_user(session, email)
    if not is_disabled(user):
        return False
    user.password_hash = user.password_hash[len(DISABLED) :]
    session.add(user)
    session.commit()
    _audit(session, by, "user.enable", user, {}, request)
    return True
