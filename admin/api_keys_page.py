"""Console page of the tenant's API keys: create (the key is shown once) and revoke. Owners and admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from admin import api_keys, audit
from admin.auth import RANK, CurrentUser, require_manager
from admin.i18n import N_, localize
from admin.routes import render
from server.api.deps import SessionDep
from server.errors import FrontdeskError
from server.tables import User

router = APIRouter(prefix="/admin", include_in_schema=False)


def keys_page(request: Request, user: User, session: Session, *, status: int = 200, **extra: Any) -> HTMLResponse:
    """Render the API keys page."""
    roles = [r for r in api_keys.KEY_ROLES if RANK[r] <= RANK.get(user.role, -1)]
    response = render(
        request, "api_keys.html", user=user, keys=api_keys.tenant_keys(session, user.tenant_id), roles=roles,
        notice=N_("API key revoked.") if request.query_params.get("notice") == "revoked" else None, **extra,
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # may carry a key shown once
    return response


@router.get("/api-keys", response_class=HTMLResponse)
def keys(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The tenant's API keys."""
    require_manager(user, N_("manage API keys"))
    return keys_page(request, user, session)


@router.post("/api-keys", response_class=HTMLResponse)
def create_key(
    request: Request, user: CurrentUser, session: SessionDep,
    name: Annotated[str, Form(max_length=200)] = "", role: Annotated[str, Form()] = "viewer",
) -> HTMLResponse:
    """Create a key and show it once."""
    require_manager(user, N_("manage API keys"))
    try:
        raw, row = api_keys.create(session, user, name, role)
    except FrontdeskError as exc:
        return keys_page(request, user, session, status=exc.status, error=localize(request, exc), form={"name": name})
    audit.record(session, user, "api_key.create", row.prefix, {"name": row.name, "role": row.role}, request=request)
    return keys_page(request, user, session, new_key=raw, new_key_name=row.name)


@router.post("/api-keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request, user: CurrentUser, session: SessionDep) -> RedirectResponse:
    """Revoke a key: it stops working at once."""
    api_keys.get(session, user.tenant_id, key_id)
    require_manager(user, N_("manage API keys"))
    row = api_keys.revoke(session, user.tenant_id, key_id)
    audit.record(session, user, "api_key.revoke", row.prefix, {"name": row.name}, request=request)
    return RedirectResponse("/admin/api-keys?notice=revoked", status_code=303)
