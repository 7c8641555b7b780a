"""The website widget over HTTP: its script and stylesheet, its public config, customer file uploads.

The widget's socket is /ws/widget/{public_key} (server/api/ws.py). Every route named by a public key
checks the page's Origin against the bot's allowed origins (server/widget.py) and answers a
refused page with 403 `origin_not_allowed`. Browsers may read the answers cross-origin (CORS).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlmodel import Session

from server import store, widget
from server.api.deps import ServicesDep, SessionDep
from server.api.schemas import MessagePublic
from server.errors import BadRequest, FrontdeskError, NotFound
from server.tables import Bot
from server.uploads import receive_files
from web import STATIC_DIR

router = APIRouter(tags=["widget"])
UPLOAD_MAX_BYTES = 5 * 2**20
UPLOAD_DIR = "widget-uploads"
# Accepted files, recognised by their first bytes (never by the name or the declared type).
SIGNATURES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
    ".pdf": ("application/pdf", (b"%PDF-",)),
}


def cors(request: Request) -> dict[str, str]:
    """Headers that let the embedding page read the answer."""
    origin = request.headers.get("origin")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def widget_bot(request: Request, session: Session, public_key: str) -> Bot:
    """The bot of a public key, after checking the page's Origin (NotFound / OriginRefused)."""
    bot = widget.bot_by_key(session, public_key)
    widget.check_origin(bot, request.headers.get("origin"), request.headers.get("host"))
    return bot


def refused(request: Request, exc: FrontdeskError) -> JSONResponse:
    """An error in the one shape, readable by the embedding page."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=cors(request))


def static_file(name: str, media_type: str) -> FileResponse:
    """A widget asset, cacheable for a few minutes so a new release reaches pages soon."""
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=headers)


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> FileResponse:
    """The widget: embed with <script src=".../widget.js" data-key="pk_..." async>."""
    return static_file("widget.js", "text/javascript; charset=utf-8")


@router.get("/widget.css", include_in_schema=False)
def widget_stylesheet() -> FileResponse:
    """The widget's stylesheet, loaded into its shadow root."""
    return static_file("widget.css", "text/css; charset=utf-8")


@router.get("/api/v1/widget/{public_key}/config", response_model=widget.WidgetConfigPublic)
def widget_config(public_key: str, request: Request, session: SessionDep) -> Response:
    """The widget's public settings (look, greeting, features); no secrets."""
    try:
        bot = widget_bot(request, session, public_key)
    except FrontdeskError as exc:
        return refused(request, exc)
    body = widget.public_config(bot).model_dump()
    return JSONResponse(body, headers={**cors(request), "Cache-Control": "no-cache"})


def sniff(path: Path) -> str | None:
    """The extension of an accepted file type, from the file's first bytes; None when not accepted."""
    with path.open("rb") as handle:
        head = handle.read(16)
    for suffix, (_, signatures) in SIGNATURES.items():
        if any(head.startswith(s) for s in signatures) and (suffix != ".webp" or head[8:12] == b"WEBP"):
            return suffix
    return None


@router.post("/api/v1/widget/{public_key}/uploads", status_code=201)
async def upload(
    public_key: str, conversation_id: str, request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """A customer sends a file (image or PDF, 5 MiB at most); it becomes a message with its link."""
    try:
        bot = widget_bot(request, session, public_key)
        if not widget.settings_of(bot).uploads:
            raise FrontdeskError("file uploads are off for this widget", code="uploads_off", status=403)
        conversation = store.get_conversation(session, bot, conversation_id)
        folder = services.settings.data_dir / UPLOAD_DIR / bot.id
        temp, files = await receive_files(
            request.headers.get("content-type", ""), request.stream(), UPLOAD_MAX_BYTES, 1, parent=folder / "tmp"
        )
        try:
            sent = files[0]
            if sent.refused:
                message = f"the file is larger than {UPLOAD_MAX_BYTES // 2**20} MiB"
                raise FrontdeskError(message, code="too_large", status=413)
            suffix = sniff(sent.path)
            if suffix is None:
                raise BadRequest("send an image (PNG, JPEG, GIF, WebP) or a PDF", code="unsupported_type")
            file_id = f"f_{uuid.uuid4().hex}{suffix}"
            shutil.move(sent.path, folder / file_id)
        finally:
            temp.cleanup()
        link = str(request.url_for("uploaded_file", public_key=public_key, file_id=file_id))
        received = store.receive(session, conversation, f"📎 {sent.name[:200]} {link}", None)
    except FrontdeskError as exc:
        return refused(request, exc)
    body = {"message": MessagePublic.of(received.message).model_dump(mode="json"), "url": link}
    return JSONResponse(body, status_code=201, headers=cors(request))


@router.get("/api/v1/widget/{public_key}/uploads/{file_id}", name="uploaded_file")
def uploaded_file(public_key: str, file_id: str, session: SessionDep, services: ServicesDep) -> FileResponse:
    """A file a customer sent; its id is random and unguessable. Served so that it can run nothing."""
    bot = widget.bot_by_key(session, public_key)
    suffix = Path(file_id).suffix
    path = services.settings.data_dir / UPLOAD_DIR / bot.id / file_id
    if suffix not in SIGNATURES or Path(file_id).name != file_id or not path.is_file():
        raise NotFound("no such file", code="unknown_file")
    media_type = SIGNATURES[suffix][0]
    disposition = "attachment" if suffix == ".pdf" else "inline"
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
    return FileResponse(path, media_type=media_type, headers=headers, content_disposition_type=disposition)
