"""Console routes for invites: create and revoke (users page), and the page that accepts one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from admin import audit, invites
from admin.auth import ROLES, CurrentUser, check_password, hasher, require_manager, require_owner
from admin.csrf import form_token, form_token_ok, set_form_cookie
from admin.i18n import N_, Msg, localize
from admin.login import begin_session, secure_cookies
from admin.users import users_page
from server.api.deps import SessionDep
from server.errors import BadRequest, FrontdeskError

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.post("/users/invite", response_class=HTMLResponse)
def invite(
    request: Request, user: CurrentUser, session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "", role: Annotated[str, Form()] = "agent",
) -> HTMLResponse:
    """Invite someone by e-mail; the page shows the link once (there is no mail server)."""
    try:
        require_manager(user, N_("invite users"))
        if role not in ROLES:
            raise BadRequest(Msg("a role is one of %(roles)s", roles=", ".join(ROLES)))
        if role in ("owner", "admin"):
            require_owner(user, N_("invite owners and admins"))
        raw, row = invites.create(session, user, email, role)
    except FrontdeskError as exc:
        session.rollback()
        error = localize(request, exc)
        return users_page(request, user, session, status=exc.status, error=error, invite_form={"email": email})
    audit.record(session, user, "invite.create", row.email, {"role": role}, request=request)
    link = f"{str(request.base_url).rstrip('/')}/admin/invite/{raw}"
    return users_page(request, user, session, new_invite={"email": row.email, "role": role, "link": link})


@router.post("/invites/{invite_id}/revoke")
def revoke_invite(invite_id: str, request: Request, user: CurrentUser, session: SessionDep) -> RedirectResponse:
    """Revoke a pending invite."""
    invites.get(session, user.tenant_id, invite_id)
    require_manager(user, N_("revoke invites"))
    row = invites.revoke(session, user.tenant_id, invite_id)
    audit.record(session, user, "invite.revoke", row.email, request=request)
    return RedirectResponse("/admin/users?notice=revoked", status_code=303)


def accept_page(request: Request, token: str, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The accept form (or why the link does not work), with a double-submit token."""
    with Session(request.app.state.services.engine) as session:
        try:
            row = invites.find(session, token)
            email, role = row.email, row.role
        except invites.InviteInvalid as exc:
            email, role, error, status = "", "", localize(request, exc), exc.status
    ftoken = form_token(request)
    response = request.app.state.templates.TemplateResponse(
        request, "accept_invite.html",
        {"form_token": ftoken, "token": token, "email": email, "role": role, "error": error}, status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in this page's URL
    set_form_cookie(response, ftoken, secure_cookies(request))
    return response


@router.get("/invite/{token}", response_class=HTMLResponse)
def accept_form(token: str, request: Request) -> HTMLResponse:
    """The page an invite link opens: choose a password."""
    return accept_page(request, token)


@router.post("/invite/{token}", response_model=None)
def accept(
    token: str, request: Request,
    password: Annotated[str, Form(max_length=1024)] = "", confirm: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Set a password, create the account, use up the invite and sign in."""
    if not form_token_ok(request, csrf_token):
        return accept_page(request, token, error=localize(request, Msg("The form expired; try again.")), status=403)
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        try:
            check_password(password, confirm)
            user = invites.accept(session, token, hasher.hash(password))
        except FrontdeskError as exc:
            return accept_page(request, token, error=localize(request, exc), status=exc.status)
        audit.record(session, user, "invite.accept", user.email, {"role": user.role}, request=request)
        return begin_session(request, session, user, "/admin/")
