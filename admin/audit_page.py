"""Console page of the tenant's audit log: newest first, filtered by action and user, paginated."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from admin import audit
from admin.auth import CurrentUser, require_manager
from admin.i18n import N_
from admin.routes import render
from server.api.deps import SessionDep
from server.tables import User

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, user: CurrentUser, session: SessionDep,
    action: str | None = None, user_id: str | None = None, page: int = 1,
) -> HTMLResponse:
    """Who changed what, and every sign-in (owners and admins)."""
    require_manager(user, N_("read the audit log"))
    found = audit.query(session, user.tenant_id, action or None, user_id or None, page)
    people = session.exec(select(User).where(User.tenant_id == user.tenant_id).order_by(col(User.email))).all()
    return render(
        request, "audit.html", user=user, log=found, actions=audit.actions(session, user.tenant_id), people=people,
        action=action or "", user_id=user_id or "",
    )
