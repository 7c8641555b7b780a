"""Console accounts managed by an operator from the shell (`frontdesk users ...`), outside any tenant's console.

The same rules as the console's users page apply (admin/users.py, admin/auth.py): roles are
owner > admin > agent > viewer, passwords are argon2-hashed and at least MIN_PASSWORD long,
e-mails are unique and lower-case. A disabled user keeps their row, role and audit history,
but cannot sign in: their stored hash gets a `!` prefix (as `passwd -l` does), which no
password verifies, their sessions end and the API keys they created are revoked. Every change
is written to the tenant's audit log with the actor "command line".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from admin import api_keys, audit, sessions
from admin.auth import ROLES, check_password, hasher
from admin.invites import EMAIL
from server.errors import BadRequest, Conflict, NotFound
from server.tables import Tenant, User

DISABLED = "!"  # prefix of a disabled user's password hash
VIA = {"via": "command line"}


@dataclass(frozen=True)
class UserRow:
    """One line of `frontdesk users list`."""

    email: str
    role: str
    tenant: str
    tenant_id: str
    disabled: bool
    created_at: datetime


def is_disabled(user: User) -> bool:
    """Whether the user was disabled (their hash cannot verify any password)."""
    return user.password_hash.startswith(DISABLED)


def normalize_email(email: str) -> str:
    """The stored form of an e-mail (trimmed, lower-case), or BadRequest when it is not one."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise BadRequest(f"not an e-mail address: {email!r}")
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
        raise Conflict(f"{len(named)} tenants are named {ref!r}; give one of their ids: {ids}")
    if named:
        return named[0]
    if create:
        if not ref.strip() or len(ref) > 200:
            raise BadRequest("a tenant name is 1-200 characters")
        tenant = Tenant(name=ref.strip())
        session.add(tenant)
        session.commit()
        return tenant
    known = session.exec(select(Tenant).order_by(col(Tenant.name))).all()
    listed = ", ".join(f"{t.name} ({t.id})" for t in known) or "none"
    raise NotFound(f"no tenant {ref!r}; known tenants: {listed} (or pass --create-tenant)", code="unknown_tenant")


def find_user(session: Session, email: str) -> User:
    """The user with this e-mail, or NotFound."""
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFound(f"no user {email.strip().lower()!r}", code="unknown_user")
    return user


def create_user(session: Session, tenant: Tenant, email: str, role: str, password: str) -> User:
    """Add a console user to a tenant.

    Raises:
        BadRequest: a bad e-mail or role; FrontdeskError: a bad password; Conflict: the e-mail is taken.
    """
    email = normalize_email(email)
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; a role is one of {', '.join(ROLES)}")
    check_password(password)
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict(f"{email} already has a Frontdesk account")
    user = User(tenant_id=tenant.id, email=email, password_hash=hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    audit.record(session, None, "user.create", email, {"role": role, **VIA}, tenant_id=tenant.id)
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
    audit.record(
        session, None, "user.password_reset", user.email, {"sessions_ended": ended, **VIA}, tenant_id=user.tenant_id
    )
    return ended


def enabled_owners(session: Session, tenant_id: str) -> int:
    """How many of the tenant's owners can sign in."""
    rows = session.exec(select(User.password_hash).where(User.tenant_id == tenant_id, User.role == "owner")).all()
    return sum(not h.startswith(DISABLED) for h in rows)


@dataclass(frozen=True)
class Disabled:
    """What disabling a user did."""

    already: bool
    sessions_ended: int = 0
    keys_revoked: int = 0


def disable_user(session: Session, email: str) -> Disabled:
    """Stop a user from signing in: lock the hash, end their sessions, revoke the API keys they created.

    Raises:
        Conflict: the user is their tenant's last owner who can sign in.
    """
    user = find_user(session, email)
    if is_disabled(user):
        return Disabled(already=True)
    if user.role == "owner" and enabled_owners(session, user.tenant_id) <= 1:
        raise Conflict(f"{user.email} is the tenant's last owner who can sign in; make someone else an owner first")
    user.password_hash = DISABLED + user.password_hash
    session.add(user)
    session.commit()
    ended = sessions.end_all(session, user.id)
    revoked = api_keys.revoke_created_by(session, user.id)
    details = {"sessions_ended": ended, "keys_revoked": revoked, **VIA}
    audit.record(session, None, "user.disable", user.email, details, tenant_id=user.tenant_id)
    return Disabled(already=False, sessions_ended=ended, keys_revoked=revoked)


def enable_user(session: Session, email: str) -> bool:
    """Let a disabled user sign in again with their last password; False when they were not disabled."""
    user = find_user(session, email)
    if not is_disabled(user):
        return False
    user.password_hash = user.password_hash[len(DISABLED) :]
    session.add(user)
    session.commit()
    audit.record(session, None, "user.enable", user.email, dict(VIA), tenant_id=user.tenant_id)
    return True
