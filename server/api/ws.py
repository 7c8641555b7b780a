"""The websocket chat endpoint; the protocol is in docs/protocol.md."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from server import store
from server.api.schemas import BotPublic, ClientFrame, HelloFrame, MessageFrame, MessagePublic
from server.chat import ChatService
from server.errors import FrontdeskError
from server.tables import Bot, Conversation, Message

router = APIRouter()
log = logging.getLogger(__name__)
FRAMES: TypeAdapter[Any] = TypeAdapter(ClientFrame)
MAX_FRAME_BYTES = 64 * 1024


class ChatSocket:
    """One customer's socket: parses frames, runs turns, never lets an error drop the connection."""

    def __init__(self, ws: WebSocket, bot: Bot, chat: ChatService) -> None:
        self.ws = ws
        self.bot = bot
        self.chat = chat
        self.conversation: Conversation | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame."""
        await self.ws.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    async def error(self, code: str, message: str, reply_to: str | None = None) -> None:
        """Send an error frame; the socket stays open."""
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if reply_to:
            frame["reply_to"] = reply_to
        await self.send(frame)

    async def serve(self) -> None:
        """Read frames until the client leaves."""
        while True:
            raw = await self.ws.receive_text()
            if len(raw.encode()) > MAX_FRAME_BYTES:
                await self.error("too_long", f"frame larger than {MAX_FRAME_BYTES} bytes")
                continue
            try:
                frame = FRAMES.validate_python(json.loads(raw))
            except json.JSONDecodeError:
                await self.error("bad_json", "frame is not valid JSON")
                continue
            except ValidationError as exc:
                await self.error(*_describe(exc, raw))
                continue
            try:
                await self.dispatch(frame)
            except FrontdeskError as exc:
                await self.error(exc.code, exc.message, getattr(frame, "id", None))

    async def dispatch(self, frame: Any) -> None:
        """Handle one valid frame."""
        if isinstance(frame, HelloFrame):
            await self.hello(frame)
        elif isinstance(frame, MessageFrame):
            await self.message(frame)
        else:
            await self.send({"type": "pong"})

    async def hello(self, frame: HelloFrame) -> None:
        """Start a conversation, or resume one and send its history."""
        with Session(self.chat.services.engine, expire_on_commit=False) as session:
            if frame.conversation_id:
                self.conversation = store.get_conversation(session, self.bot, frame.conversation_id)
            else:
                self.conversation = store.start_conversation(session, self.bot, "web", frame.user_id, frame.locale)
            history = store.history(session, self.conversation.id)
        await self.send({
            "type": "ready",
            "conversation_id": self.conversation.id,
            "bot": BotPublic.of(self.bot).model_dump(),
            "history": [MessagePublic.of(m).model_dump(mode="json") for m in history],
        })

    async def message(self, frame: MessageFrame) -> None:
        """Persist, acknowledge, stream the reply, send the final frame."""
        if self.conversation is None:
            with Session(self.chat.services.engine, expire_on_commit=False) as session:
                self.conversation = store.start_conversation(session, self.bot, "web")
        conversation = self.conversation

        async def acked(message: Message) -> None:
            await self.send({
                "type": "ack", "id": frame.id, "message_id": message.id, "conversation_id": conversation.id,
            })

        async def chunk(piece: str) -> None:
            await self.send({"type": "chunk", "reply_to": frame.id, "text": piece})

        async def reset() -> None:
            await self.send({"type": "reset", "reply_to": frame.id})

        outcome = await self.chat.turn(self.bot, conversation, frame.text, frame.id, acked, chunk, send_reset=reset)
        reply = outcome.reply
        await self.send({
            "type": "final", "reply_to": frame.id, "message_id": reply.id, "text": reply.text,
            "citations": reply.citations, "intent": reply.intent, "fallback": reply.fallback,
        })


def _describe(exc: ValidationError, raw: str) -> tuple[str, str, str | None]:
    """An error code and message for an invalid frame."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    kind = data.get("type") if isinstance(data, dict) else None
    reply_to = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
    if kind not in ("hello", "message", "ping"):
        return "unknown_type", f"unknown frame type {kind!r}; expected hello, message or ping", None
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
    return "bad_request", f"{where}: {first['msg']}", reply_to


@router.websocket("/ws/chat/{bot_slug}")
async def chat_socket(ws: WebSocket, bot_slug: str) -> None:
    """Chat with a bot over a websocket."""
    await ws.accept()
    services = ws.app.state.services
    with Session(services.engine, expire_on_commit=False) as session:
        try:
            bot = store.get_bot(session, bot_slug)
        except FrontdeskError as exc:
            await ws.send_text(json.dumps({"type": "error", "code": exc.code, "message": exc.message}))
            await ws.close(code=4404)
            return
    try:
        await ChatSocket(ws, bot, ws.app.state.chat).serve()
    except WebSocketDisconnect:
        log.debug("socket closed for bot %s", bot_slug)
