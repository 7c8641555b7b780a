"""Sign-in and sign-out pages of the console."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, select

from admin import audit, sessions
from admin.auth import CurrentUser, client_ip, hasher, verify_password
from admin.csrf import form_token, form_token_ok, set_form_cookie
from admin.i18n import Msg, localize
from admin.throttle import LoginThrottle
from server.tables import User

router = APIRouter(prefix="/admin", include_in_schema=False)
HOME = "/admin/"


def safe_next(value: str | None) -> str:
    """A same-site relative path to go to after sign-in; anything else becomes the console home."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return HOME
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return HOME
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else HOME


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure on https, and always in production (TLS may end at a proxy)."""
    return request.url.scheme == "https" or request.app.state.settings.environment == "production"


def set_session_cookie(response: RedirectResponse, raw: str, request: Request) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, Secure on https or in production."""
    response.set_cookie(
        sessions.COOKIE, raw, max_age=int(sessions.ABSOLUTE_TIMEOUT.total_seconds()), httponly=True,
        samesite="lax", secure=secure_cookies(request), path="/",
    )


def begin_session(request: Request, session: Session, user: User, target: str) -> RedirectResponse:
    """End the browser's old session if any, open a new one (new id: no fixation) and redirect."""
    old = request.cookies.get(sessions.COOKIE)
    if old:
        sessions.end(session, old)
    raw, _ = sessions.start(session, user, client_ip(request), request.headers.get("user-agent", ""))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, raw, request)
    return response


def throttle(request: Request) -> LoginThrottle:
    """The process's sign-in throttle (made by admin.accounts.install_accounts)."""
    return request.app.state.login_throttle


def login_page(
    request: Request, *, next_url: str = HOME, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The sign-in form with a fresh double-submit token."""
    token = form_token(request)
    response = request.app.state.templates.TemplateResponse(
        request, "login.html", {"form_token": token, "next": safe_next(next_url), "email": email, "error": error},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    set_form_cookie(response, token, secure_cookies(request))
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = HOME) -> HTMLResponse:
    """The sign-in page."""
    return login_page(request, next_url=next)


@router.post("/login", response_model=None)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> HTMLResponse | RedirectResponse:
    """Check the e-mail and password; on success start a new session and go to `next`."""
    email, ip = email.strip().lower(), client_ip(request)
    if not form_token_ok(request, csrf_token):
        expired = localize(request, Msg("The form expired; try again."))
        return login_page(request, next_url=next, email=email, error=expired, status=403)
    wait = throttle(request).retry_after(email, ip)
    if wait > 0:
        message = localize(request, Msg("Too many failed attempts; try again in %(n)s minutes.", n=int(wait // 60) + 1))
        return login_page(request, next_url=next, email=email, error=message, status=429)
    with Session(request.app.state.services.engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if not verify_password(user, password):
            throttle(request).failed(email, ip)
            audit.record(session, user, "login.failed", email, request=request)
            wrong = localize(request, Msg("Wrong e-mail or password."))
            return login_page(request, next_url=next, email=email, error=wrong, status=401)
        assert user is not None  # verify_password is False for an unknown user
        throttle(request).succeeded(email, ip)
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
            session.add(user)
            session.commit()
        sessions.purge_expired(session)
        response = begin_session(request, session, user, safe_next(next))
        audit.record(session, user, "login.ok", user.email, request=request)
    return response


@router.post("/logout")
def logout(request: Request, user: CurrentUser) -> RedirectResponse:
    """End this browser's session."""
    with Session(request.app.state.services.engine) as session:
        sessions.end(session, request.cookies.get(sessions.COOKIE, ""))
        audit.record(session, user, "logout", user.email, request=request)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))
    return response
