"""Privacy requests: export or delete one customer's data, and the tenant's retention settings.

A console session or an API key (admin/auth.py) is required; only owners and admins may delete
data or change retention. Exports, deletions and setting changes are written to the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from admin import audit
from admin.auth import CurrentUser, require_manager
from server import privacy
from server.api.deps import ServicesDep, SessionDep
from server.api.documents import owned_bot
from server.tables import Tenant

router = APIRouter(prefix="/api/v1", tags=["privacy"])
class DeletedOut(BaseModel):
    """What a deletion removed."""

    conversations: int
    messages: int
    feedback: int


class PrivacySettings(BaseModel):
    """A tenant's retention settings."""

    retention_days: int | None = Field(default=None, ge=1, le=3650, description="None keeps conversations.")
    keep_original_text: bool = Field(default=True, description="False stores customer text with PII redacted.")


@router.get("/bots/{bot_slug}/customers/{customer}/export")
async def export_customer(
    bot_slug: str, customer: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Everything stored about one customer (by channel user id or conversation id), as JSON."""
    owned_bot(session, user, bot_slug)
    exported = await run_in_threadpool(privacy.export_customer, services.engine, bot_slug, customer)
    audit.record(session, user, "privacy.export", f"{bot_slug}/{customer}", request=request)
    return exported


@router.delete("/bots/{bot_slug}/customers/{customer}")
async def delete_customer(
    bot_slug: str, customer: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> DeletedOut:
    """Delete one customer's conversations, messages and feedback with this bot."""
    owned_bot(session, user, bot_slug)  # first: another tenant's bot is a 404 for every role
    require_manager(user, "delete customer data")
    deleted = await run_in_threadpool(
        privacy.delete_customer, services.engine, bot_slug, customer, services.settings.data_dir
    )
    audit.record(session, user, "privacy.delete", f"{bot_slug}/{customer}", deleted.__dict__, request=request)
    return DeletedOut(**deleted.__dict__)


@router.get("/privacy")
def get_settings(user: CurrentUser, session: SessionDep) -> PrivacySettings:
    """The signed-in user's tenant's retention settings."""
    tenant = session.get(Tenant, user.tenant_id)
    assert tenant is not None  # a user always belongs to a tenant (foreign key)
    return PrivacySettings(retention_days=tenant.retention_days, keep_original_text=tenant.keep_original_text)


@router.put("/privacy")
def put_settings(body: PrivacySettings, request: Request, user: CurrentUser, session: SessionDep) -> PrivacySettings:
    """Change the tenant's retention window and whether original customer text is stored."""
    require_manager(user, "change retention settings")
    tenant = session.get(Tenant, user.tenant_id)
    assert tenant is not None
    tenant.retention_days, tenant.keep_original_text = body.retention_days, body.keep_original_text
    session.add(tenant)
    session.commit()
    audit.record(session, user, "privacy.settings", "tenant", body.model_dump(), request=request)
    return body
