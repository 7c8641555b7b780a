"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin import TEMPLATES_DIR
from admin.accounts import install_accounts
from admin.actions_page import router as admin_actions_router
from admin.channels_page import router as admin_channels_router
from admin.hours_page import router as admin_hours_router
from admin.i18n import install_translations
from admin.inbox import router as admin_inbox_router
from admin.intents import router as admin_intents_router
from admin.privacy_page import router as admin_privacy_router
from admin.routes import router as admin_router
from admin.rules import router as admin_rules_router
from admin.search_page import router as admin_search_router
from admin.widget import router as admin_widget_router
from bot import pii_ner
from server.api import channels, handoff, messages, pages, privacy, ws
from server.api.channels import MAX_BODY_BYTES as WEBHOOK_CAP
from server.api.documents import router as documents_router
from server.api.feedback import router as feedback_router
from server.api.hours import router as hours_router
from server.api.presence import router as presence_router
from server.api.voice import router as voice_router
from server.api.widget import router as widget_router
from server.chat import ChatService
from server.context import Services
from server.db import DATABASE_UNAVAILABLE
from server.errors import FrontdeskError, Unavailable
from server.hub import make_hub
from server.ingest_queue import IngestQueue
from server.privacy import install_log_redaction, retention_loop
from server.ratelimit import BodyCapMiddleware, RateLimiter, RateLimitMiddleware
from server.seed import is_empty, seed_demo
from server.settings import Settings
from server.shutdown import Drain, DrainMiddleware
from server.sweeper import settings_of as sweeper_settings
from server.sweeper import sweep_loop
from server.text_guard import NulGuardMiddleware
from web import STATIC_DIR

log = logging.getLogger(__name__)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one error shape."""
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as {"error": {"code", "message"}} without stack traces."""

    @app.exception_handler(FrontdeskError)
    async def _frontdesk(_: Request, exc: FrontdeskError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return JSONResponse(error_body("bad_request", f"{where}: {first['msg']}"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = "request body too large" if exc.status_code == 413 else str(exc.detail)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        down = Unavailable(DATABASE_UNAVAILABLE)
        return JSONResponse(down.body(), status_code=down.status, headers=down.headers)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal", "internal server error"), status_code=500)


HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; models and indexes load in the lifespan, never at import time.

    Args:
        settings: the settings to use (default: read from the environment).
        services: already-open services (tests); the app then does not close them.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        if settings.pii_names_model:
            pii_ner.enable()  # a clear ConfigError at start-up when the extra is not installed
        app.state.services = services or Services.open(settings)
        app.state.chat = ChatService(app.state.services)
        app.state.hub = make_hub(settings.redis_url)
        await app.state.hub.start()
        if settings.seed_demo and is_empty(app.state.services.runtimes):
            result = seed_demo(app.state.services.runtimes)
            app.state.seeded = result
            log.warning(
                "created demo bot %r; console login %s / %s (shown once)",
                result.bot_slug, result.admin_email, result.admin_password,
            )
        install_log_redaction()
        live = app.state.services
        purger = asyncio.create_task(retention_loop(live.engine, data_dir=live.settings.data_dir))
        sweeping = sweeper_settings(live.settings)  # unanswered messages of dead turns get an outcome
        sweeper = asyncio.create_task(sweep_loop(live.engine, sweeping)) if sweeping.enabled else None
        app.state.ingest = IngestQueue(app.state.services.runtimes)
        app.state.ingest.start()
        restore_sigterm = app.state.drain.install(asyncio.get_running_loop())
        try:
            yield
        finally:
            restore_sigterm()
            await app.state.limiter.aclose()
            app.state.ingest.stop()
            purger.cancel()
            if sweeper is not None:
                sweeper.cancel()
            await app.state.hub.stop()
            if owned:
                app.state.services.close()

    app = FastAPI(title="Frontdesk", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    app.state.templates.env.add_extension("jinja2.ext.i18n")
    install_translations(app.state.templates.env)  # `_()` in templates speaks each request's locale
    install_accounts(app)  # sign-in, users, API keys, audit log; CSRF helpers for templates
    install_error_handlers(app)
    app.state.limiter = RateLimiter(settings.rate_limits, settings.redis_url)
    app.state.drain = Drain(settings.rate_limits.drain_seconds)
    app.add_middleware(NulGuardMiddleware)  # innermost: bodies are capped before it reads them
    app.add_middleware(RateLimitMiddleware, limiter=app.state.limiter)
    app.add_middleware(BodyCapMiddleware, json_cap=settings.rate_limits.max_json_body_bytes, webhook_cap=WEBHOOK_CAP)
    app.add_middleware(DrainMiddleware, drain=app.state.drain)
    app.include_router(messages.router)
    app.include_router(handoff.router)
    app.include_router(hours_router)
    app.include_router(presence_router)
    app.include_router(voice_router)
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(admin_router)
    app.include_router(admin_rules_router)
    app.include_router(admin_intents_router)
    app.include_router(admin_widget_router)
    app.include_router(admin_inbox_router)
    app.include_router(admin_hours_router)
    app.include_router(admin_privacy_router)
    app.include_router(admin_actions_router)
    app.include_router(admin_search_router)
    app.include_router(admin_channels_router)
    app.include_router(widget_router)
    app.include_router(channels.router)
    app.include_router(documents_router)
    app.include_router(feedback_router)
    app.include_router(privacy.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/health", tags=["ops"])
    def health() -> JSONResponse:
        """Liveness probe; 503 "draining" once a shutdown began, so balancers send nobody new."""
        if app.state.drain.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
