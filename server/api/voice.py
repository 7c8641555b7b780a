"""The widget's voice messages over HTTP (docs/protocol.md, "Voice").

POST /api/v1/widget/{public_key}/voice?conversation_id=... with the recording as one
multipart/form-data file (any field name; the format is recognised from the bytes, never the name):
the answer carries the transcript, the bot's reply and, when the reply was spoken, its audio URL.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from bot.voice import AudioInvalid, AudioTooLong, TranscriptionFailed, VoiceError, VoiceOff
from server import store, voice_store, widget
from server.api.deps import SessionDep
from server.api.schemas import MessagePublic, ReplyOut
from server.api.widget import cors, refused, widget_bot
from server.errors import FrontdeskError, NotFound
from server.uploads import receive_files
from server.voice_turns import VoiceTurn, voice_service

router = APIRouter(tags=["widget"])
STATUS: dict[type[VoiceError], int] = {AudioInvalid: 400, AudioTooLong: 413, TranscriptionFailed: 422, VoiceOff: 503}
_REPLY_AUDIO = re.compile(r"msg_[0-9a-f]{32}\.(mp3|ogg|wav)")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def voice_error(exc: VoiceError) -> FrontdeskError:
    """A voice error in the one error shape, with its HTTP status."""
    return FrontdeskError(str(exc), code=exc.code, status=STATUS.get(type(exc), 400))


async def read_audio(request: Request, limit: int, parent: Path) -> bytes:
    """The one file of a multipart body, refusing more than `limit` bytes (413) while it streams."""
    temp, files = await receive_files(request.headers.get("content-type", ""), request.stream(), limit, 1, parent)
    try:
        if not files:
            raise FrontdeskError("send the recording as one multipart/form-data file", code="bad_audio")
        if files[0].refused:
            raise FrontdeskError(f"the audio is larger than {limit // 1024} KiB", code="too_large", status=413)
        return files[0].path.read_bytes()
    finally:
        temp.cleanup()


def turn_body(request: Request, public_key: str, conversation_id: str, turn: VoiceTurn) -> dict:  # type: ignore[type-arg]
    """The JSON answer of a voice turn."""
    reply = turn.outcome.reply
    audio = None
    if turn.spoken is not None:
        url = request.url_for(
            "voice_audio", public_key=public_key, conversation_id=conversation_id, name=turn.spoken.name
        )
        audio = {"url": str(url), "media_type": turn.spoken.media_type, "language": turn.spoken.language}
    transcript = turn.heard.transcript
    return {
        "conversation_id": conversation_id,
        "message": MessagePublic.of(turn.heard.message).model_dump(mode="json"),
        "transcript": {
            "text": turn.heard.message.text,
            "language": transcript.language if transcript else None,
        },
        "reply": None if reply is None else ReplyOut(
            message_id=reply.id, text=reply.text, citations=reply.citations, intent=reply.intent,
            fallback=reply.fallback, quick_replies=(reply.trace or {}).get("quick_replies") or [],
        ).model_dump(mode="json"),
        "status": turn.outcome.status,
        "audio": audio,
    }


@router.post("/api/v1/widget/{public_key}/voice")
async def voice_message(
    public_key: str, conversation_id: str, request: Request, session: SessionDep, client_id: str | None = None
) -> Response:
    """A customer speaks: the audio is stored, transcribed, answered and (when set) the reply spoken."""
    voice = voice_service(request.app)
    try:
        bot = widget_bot(request, session, public_key)
        if not widget.settings_of(bot).voice:
            raise FrontdeskError("voice messages are off for this widget", code="voice_off", status=403)
        if not voice.engine.listens:
            raise voice_error(VoiceOff("speech input is off on this server"))
        if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
            raise FrontdeskError("client_id: 1-100 letters, digits or _ . : -", code="bad_request", status=400)
        conversation = store.get_conversation(session, bot, conversation_id)
        data = await read_audio(request, voice.settings.max_bytes, voice.data_dir / voice_store.VOICE_DIR / "tmp")
        try:
            turn = await voice.turn(bot, conversation, data, client_id)
        except VoiceError as exc:
            raise voice_error(exc) from exc
    except FrontdeskError as exc:
        return refused(request, exc)
    return JSONResponse(turn_body(request, public_key, conversation_id, turn), headers=cors(request))


@router.get("/api/v1/widget/{public_key}/voice/{conversation_id}/{name}", name="voice_audio")
def voice_audio(public_key: str, conversation_id: str, name: str, request: Request, session: SessionDep) -> Response:
    """A spoken reply; named by two random ids, served so that it can run nothing."""
    bot = widget.bot_by_key(session, public_key)
    path = voice_store.find(voice_service(request.app).data_dir, bot.id, conversation_id, name)
    if not _REPLY_AUDIO.fullmatch(name) or path is None:
        raise NotFound("no such audio", code="unknown_audio")
    media_type = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}[name.rsplit(".", 1)[1]]
    headers = {
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600", **cors(request),
    }
    return FileResponse(path, media_type=media_type, headers=headers)
