"""The console's users page: the tenant's users and invites, role changes, disabling, removal, one's own password.

Owners and admins manage users; only owners may grant or take away the owner and admin roles, or
disable, enable and remove owners and admins. The last owner who can sign in can be neither
demoted, disabled nor removed, even by two owners acting on each other at the same moment: each
change takes the tenant's owner lock (operator_accounts.lock_owners) and checks what the database
holds then. Disabling keeps the user's row, role and history but locks them out
(admin/operator_accounts.py, shared with `frontdesk users disable`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import delete
from sqlmodel import Session, col, select

from admin import api_keys, audit, invites, sessions
from admin.auth import (
    DISABLED,
    MANAGERS,
    ROLES,
    CurrentUser,
    Forbidden,
    check_password,
    hasher,
    is_disabled,
    require_manager,
    require_owner,
    verify_password,
)
from admin.i18n import N_, Msg, localize
from admin.login import begin_session
from admin.operator_accounts import disable_user, enable_user, enabled_owners, fresh, lock_owners
from admin.routes import render
from server.api.deps import SessionDep
from server.errors import BadRequest, Conflict, FrontdeskError, NotFound
from server.tables import AgentPresence, User

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {
    "role": N_("Role changed."),
    "removed": N_("User removed."),
    "password": N_("Password changed; other sessions ended."),
    "revoked": N_("Invite revoked."),
    "disabled": N_("User disabled; their sessions ended and their API keys were revoked."),
    "enabled": N_("User enabled; they can sign in again with their last password."),
    "already_disabled": N_("That user was already disabled."),
    "already_enabled": N_("That user was not disabled."),
}


def users_page(request: Request, user: User, session: Session, *, status: int = 200, **extra: Any) -> HTMLResponse:
    """Render the users page."""
    people = session.exec(select(User).where(User.tenant_id == user.tenant_id).order_by(col(User.email))).all()
    response = render(
        request, "users.html", user=user, people=people, disabled={p.id for p in people if is_disabled(p)},
        invites=invites.pending(session, user.tenant_id),
        roles=ROLES, can_manage=user.role in MANAGERS, is_owner=user.role == "owner",
        invite_roles=ROLES if user.role == "owner" else ("agent", "viewer"),
        notice=NOTICES.get(request.query_params.get("notice", "")), **extra,
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # may carry an invite link shown once
    return response


def tenant_user(session: Session, actor: User, user_id: str) -> User:
    """A user of the actor's tenant, or 404."""
    target = session.get(User, user_id)
    if target is None or target.tenant_id != actor.tenant_id:
        raise NotFound(Msg("no such user"), code="unknown_user")
    return target


def last_owner(session: Session, target: User) -> bool:
    """Whether target is the tenant's only owner who can sign in (a disabled owner does not count).

    Only meaningful after locked(): otherwise another request may change the owners right after.
    """
    return target.role == "owner" and not is_disabled(target) and enabled_owners(session, target.tenant_id) <= 1


def locked(session: Session, actor: User, target: User) -> tuple[User, User]:
    """Take the tenant's owner lock (held until commit or rollback) and re-read the actor and the target.

    Returns:
        (actor, target) as the database has them now, so every check after this sees changes that
        other requests committed before (a role taken away, a user disabled or removed meanwhile).

    Raises:
        Forbidden: the actor was disabled meanwhile; NotFound: the actor or target was removed.
    """
    lock_owners(session, actor.tenant_id)
    me = fresh(session, actor)
    if is_disabled(me):
        raise Forbidden(Msg("your account was disabled"))
    return me, fresh(session, target)


def check_role_change(session: Session, actor: User, target: User, role: str) -> None:
    """Refuse a role change the actor may not make, or one that leaves the tenant without an owner."""
    require_manager(actor, N_("change roles"))
    if role not in ROLES:
        raise BadRequest(Msg("a role is one of %(roles)s", roles=", ".join(ROLES)))
    if {target.role, role} & {"owner", "admin"}:
        require_owner(actor, N_("grant or take away the owner and admin roles"))
    if role != "owner" and last_owner(session, target):
        raise Conflict(Msg("the last owner cannot be demoted; make someone else an owner first"))


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The tenant's users and pending invites."""
    return users_page(request, user, session)


def _refused(request: Request, user: User, session: Session, exc: FrontdeskError) -> HTMLResponse:
    session.rollback()
    return users_page(request, user, session, status=exc.status, error=localize(request, exc))


@router.post("/users/{user_id}/role", response_model=None)
def change_role(
    user_id: str, request: Request, user: CurrentUser, session: SessionDep, role: Annotated[str, Form()] = ""
) -> HTMLResponse | RedirectResponse:
    """Give a user another role."""
    target = tenant_user(session, user, user_id)
    try:
        actor, target = locked(session, user, target)
        check_role_change(session, actor, target, role)
    except (Forbidden, BadRequest, Conflict, NotFound) as exc:
        return _refused(request, user, session, exc)
    before, target.role = target.role, role
    session.add(target)
    session.commit()
    audit.record(session, user, "user.role", target.email, {"from": before, "to": role}, request=request)
    return RedirectResponse("/admin/users?notice=role", status_code=303)


def remove_user(session: Session, target: User) -> None:
    """Delete a user: their sessions end, their API keys are revoked, their presence is forgotten."""
    sessions.end_all(session, target.id)
    api_keys.revoke_created_by(session, target.id)
    session.exec(delete(AgentPresence).where(col(AgentPresence.user_id) == target.id))  # type: ignore[call-overload]
    session.delete(target)
    session.commit()


@router.post("/users/{user_id}/remove", response_model=None)
def remove(user_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse | RedirectResponse:
    """Remove a user from the tenant."""
    target = tenant_user(session, user, user_id)
    try:
        actor, target = locked(session, user, target)
        require_manager(actor, N_("remove users"))
        if target.role in ("owner", "admin"):
            require_owner(actor, N_("remove owners and admins"))
        if last_owner(session, target):
            raise Conflict(Msg("the last owner cannot be removed"))
    except (Forbidden, Conflict, NotFound) as exc:
        return _refused(request, user, session, exc)
    email, role = target.email, target.role
    if not is_disabled(target):  # decided under the lock: from here on they count as no owner
        target.password_hash = DISABLED + target.password_hash
        session.add(target)
        session.commit()
    remove_user(session, target)
    audit.record(session, user, "user.remove", email, {"role": role}, request=request)
    if target.id == user.id:
        return RedirectResponse("/admin/login", status_code=303)
    return RedirectResponse("/admin/users?notice=removed", status_code=303)


def check_disable(actor: User, target: User, what: str) -> None:
    """Refuse to disable or enable a user the actor may not manage, or (disabling) the actor themself."""
    disabling = what == "disable"
    require_manager(actor, N_("disable users") if disabling else N_("enable users"))
    if target.role in ("owner", "admin"):
        require_owner(actor, N_("disable owners and admins") if disabling else N_("enable owners and admins"))
    if target.id == actor.id:
        raise Conflict(
            Msg("you cannot disable your own account; ask another owner")
            if disabling
            else Msg("you cannot enable your own account; ask another owner")
        )


@router.post("/users/{user_id}/disable", response_model=None)
def disable(user_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse | RedirectResponse:
    """Stop a user from signing in: their sessions end and the API keys they created are revoked."""
    target = tenant_user(session, user, user_id)
    try:
        actor, target = locked(session, user, target)
        check_disable(actor, target, "disable")
        done = disable_user(session, target.email, by=user, request=request)
    except (Forbidden, Conflict, NotFound) as exc:
        return _refused(request, user, session, exc)
    notice = "already_disabled" if done.already else "disabled"
    return RedirectResponse(f"/admin/users?notice={notice}", status_code=303)


@router.post("/users/{user_id}/enable", response_model=None)
def enable(user_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse | RedirectResponse:
    """Let a disabled user sign in again with their last password."""
    target = tenant_user(session, user, user_id)
    try:
        check_disable(user, target, "enable")
    except (Forbidden, Conflict) as exc:
        return _refused(request, user, session, exc)
    changed = enable_user(session, target.email, by=user, request=request)
    return RedirectResponse(f"/admin/users?notice={'enabled' if changed else 'already_enabled'}", status_code=303)


@router.post("/account/password", response_model=None)
def change_password(
    request: Request, user: CurrentUser, session: SessionDep,
    current: Annotated[str, Form(max_length=1024)] = "", password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> HTMLResponse | RedirectResponse:
    """Change one's own password: every session of the user ends, this browser gets a new one."""
    me = tenant_user(session, user, user.id)
    try:
        if getattr(request.state, "api_key", None) is not None or not verify_password(me, current):
            raise Forbidden(Msg("the current password is wrong"), code="bad_password")
        check_password(password, confirm)
    except FrontdeskError as exc:
        return _refused(request, user, session, exc)
    me.password_hash = hasher.hash(password)
    session.add(me)
    session.commit()
    ended = sessions.end_all(session, me.id)
    audit.record(session, me, "user.password", me.email, {"sessions_ended": ended}, request=request)
    return begin_session(request, session, me, "/admin/users?notice=password")
