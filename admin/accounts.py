"""Wires console accounts into the app: sign-in, users, invites, API keys, audit pages, CSRF template helpers."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from admin import api_keys_page, audit_page, csrf, invite_routes, login, sessions, users
from admin.auth import NotSignedIn
from admin.throttle import LoginThrottle

router = APIRouter()
for _module in (login, users, invite_routes, api_keys_page, audit_page):
    router.include_router(_module.router)


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    """A console page asked for without a session goes to the sign-in page; anything else gets 401."""
    assert isinstance(exc, NotSignedIn)
    if request.method in ("GET", "HEAD") and request.url.path.startswith("/admin"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)
    else:
        response = JSONResponse(exc.body(), status_code=exc.status, headers={"WWW-Authenticate": "Bearer"})
    if request.cookies.get(sessions.COOKIE):
        response.delete_cookie(sessions.COOKIE, path="/")
    return response


def install_accounts(app: FastAPI) -> None:
    """Add the account pages, the sign-in redirect, the sign-in throttle and the templates' CSRF helpers."""
    app.state.login_throttle = LoginThrottle()
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    env = app.state.templates.env
    env.globals.update(csrf_input=csrf.csrf_input, csrf_token=csrf.csrf_token, csrf_query=csrf.csrf_query)
    app.include_router(router)
