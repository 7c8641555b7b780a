"""The websocket chat endpoint; the protocol is in docs/protocol.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from server import store, widget
from server.api.schemas import (
    FRAME_TYPES,
    BotPublic,
    ClientFrame,
    EventFrame,
    FeedbackFrame,
    HelloFrame,
    LocaleFrame,
    MessageFrame,
    MessagePublic,
)
from server.chat import UNAVAILABLE, ChatService
from server.db import DATABASE_DOWN, DATABASE_UNAVAILABLE
from server.errors import BadRequest, FrontdeskError, Unavailable
from server.hub import Event, Hub
from server.metrics import feedback as feedback_store
from server.ratelimit import RateLimiter, RetryLater
from server.shutdown import CLOSE_RESTART, Drain
from server.tables import Bot, Conversation, Message
from server.text_guard import find_nul
from server.voice_turns import voice_service

router = APIRouter()
log = logging.getLogger(__name__)
FRAMES: TypeAdapter[Any] = TypeAdapter(ClientFrame)
MAX_FRAME_BYTES = 64 * 1024
CLOSE_FORBIDDEN = 4403  # the page's origin may not embed this bot's widget
CLOSE_UNKNOWN = 4404  # no such bot (or widget key)
CLOSE_TRY_LATER = 1013  # too many connects from this address, or the database is down: try again later
AUDIO_GRACE_S = 10.0  # a shutdown waits this long for replies still being spoken


class ChatSocket:
    """One customer's socket: parses frames, runs turns, never lets an error drop the connection."""

    def __init__(
        self, ws: WebSocket, bot: Bot, chat: ChatService, hub: Hub, limiter: RateLimiter | None = None,
        ip: str = "unknown", drain: Drain | None = None,
    ) -> None:
        self.ws = ws
        self.bot = bot
        self.chat = chat
        self.hub = hub
        self.limiter = limiter
        self.ip = ip
        self.drain = drain
        self.conversation: Conversation | None = None
        self.turn: asyncio.Task[None] | None = None
        self.cancel = threading.Event()
        self.events: tuple[str, asyncio.Queue[Event], asyncio.Task[None]] | None = None
        self.speaking: set[asyncio.Task[None]] = set()  # replies being synthesised for `audio` frames

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame."""
        await self.ws.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    async def stream(self, frame: dict[str, Any], cancel: threading.Event) -> None:
        """Send a streamed piece; if the customer has gone, stop generating instead of failing."""
        if cancel.is_set():
            return
        try:
            await self.send(frame)
        except (WebSocketDisconnect, RuntimeError):
            cancel.set()

    async def error(self, code: str, message: str, reply_to: str | None = None) -> None:
        """Send an error frame; the socket stays open."""
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if reply_to:
            frame["reply_to"] = reply_to
        await self.send(frame)

    async def serve(self) -> None:
        """Read frames until the client leaves; then stop any reply still being generated."""
        if self.drain is not None:
            self.drain.register(self)
        try:
            await self.read_frames()
        finally:
            self.unfollow()
            await self.stop_turn()
            if self.drain is not None:
                self.drain.unregister(self)

    async def close_for_shutdown(self) -> None:
        """Say closing, let the reply in progress reach its final frame, then close (1012)."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.send({"type": "closing"})
        if self.turn is not None and not self.turn.done():
            await asyncio.gather(asyncio.shield(self.turn), return_exceptions=True)
        if self.speaking:
            await asyncio.wait(set(self.speaking), timeout=AUDIO_GRACE_S)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.close(code=CLOSE_RESTART, reason="closing")

    def follow(self, conversation_id: str) -> None:
        """Forward the conversation's live events (agent messages) while frames are read."""
        if self.events is not None and self.events[0] == conversation_id:
            return
        self.unfollow()
        queue = self.hub.subscribe(conversation_id)
        self.events = (conversation_id, queue, asyncio.create_task(self.forward(queue)))

    def unfollow(self) -> None:
        """Stop forwarding live events."""
        if self.events is not None:
            conversation_id, queue, task = self.events
            self.hub.unsubscribe(conversation_id, queue)
            task.cancel()
            self.events = None

    async def forward(self, queue: asyncio.Queue[Event]) -> None:
        """Send each live event as a frame until the socket closes."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await self.send(await queue.get())

    async def stop_turn(self) -> None:
        """Cancel the reply in progress and wait until it is stored."""
        if self.turn is not None and not self.turn.done():
            self.cancel.set()
            await asyncio.gather(self.turn, return_exceptions=True)

    async def receive_frame(self) -> str | None:
        """The next text frame; a binary frame is answered with an error frame and gives None."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        if message.get("text") is None:
            await self.error("bad_frame", "send JSON text frames, not binary ones")
            return None
        return message["text"]

    async def read_frames(self) -> None:
        """Parse and dispatch frames; a message runs as a task so the socket keeps listening."""
        while True:
            raw = await self.receive_frame()
            if raw is None:
                continue
            if len(raw.encode()) > MAX_FRAME_BYTES:
                await self.error("too_long", f"frame larger than {MAX_FRAME_BYTES} bytes")
                continue
            try:  # pydantic's JSON parser bounds nesting and refuses unpaired surrogates
                frame = FRAMES.validate_json(raw)
            except ValidationError as exc:
                await self.error(*_describe(exc, raw))
                continue
            try:
                refuse_nul(frame)
                await self.admit(frame)
                await self.dispatch(frame)
            except RetryLater as exc:
                await self.send(exc.frame(getattr(frame, "id", None)))
            except FrontdeskError as exc:
                await self.error(exc.code, exc.message, getattr(frame, "id", None))
            except DATABASE_DOWN as exc:  # hello, feedback, events: the socket stays open for a retry
                log.warning("database unavailable for a %s frame: %s", type(frame).__name__, exc)
                await self.error("unavailable", DATABASE_UNAVAILABLE, getattr(frame, "id", None))

    async def admit(self, frame: Any) -> None:
        """Refuse a frame while the server drains, or over the address's or conversation's rate."""
        if self.drain is not None and self.drain.draining and isinstance(frame, MessageFrame | HelloFrame):
            raise FrontdeskError("the server is restarting: reconnect and send it again", code="closing")
        if self.limiter is None:
            return
        await self.limiter.check("ws_message", self.ip)
        if isinstance(frame, MessageFrame) and self.conversation is not None:
            await self.limiter.check("conversation", self.conversation.id)

    async def dispatch(self, frame: Any) -> None:
        """Handle one valid frame. A new message cancels the reply still being generated."""
        if isinstance(frame, HelloFrame):
            await self.stop_turn()
            await self.hello(frame)
        elif isinstance(frame, MessageFrame):
            self.chat.check_text(frame.text)
            await self.stop_turn()
            self.cancel = threading.Event()
            self.turn = asyncio.create_task(self.run_message(frame, self.cancel))
        elif isinstance(frame, FeedbackFrame | EventFrame | LocaleFrame):
            await self.update(frame)
        else:
            await self.send({"type": "pong"})

    async def update(self, frame: FeedbackFrame | EventFrame | LocaleFrame) -> None:
        """Feedback, a tracked event or a new locale, for the conversation this socket holds."""
        if self.conversation is None:
            raise FrontdeskError("send hello first", code="no_conversation")
        conversation_id = self.conversation.id
        with Session(self.chat.services.engine, expire_on_commit=False) as session:
            if isinstance(frame, FeedbackFrame):
                stored = feedback_store.record(
                    session, conversation_id, frame.kind, frame.score, frame.message_id, frame.comment
                )
                reply = {"type": "feedback_saved", "kind": stored.kind, "message_id": stored.message_id}
            elif isinstance(frame, EventFrame):
                widget.record_event(session, conversation_id, frame.name, frame.data)
                reply = {"type": "tracked", "name": frame.name}
            else:
                self.conversation = widget.update_conversation(session, conversation_id, frame.locale, {})
                reply = {"type": "locale_set", "locale": frame.locale}
        await self.send(reply)

    async def run_message(self, frame: MessageFrame, cancel: threading.Event) -> None:
        """One turn in the background; its errors become error frames."""
        try:
            await self.message(frame, cancel)
        except RetryLater as exc:  # busy: the message is stored with that outcome
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.send(exc.frame(frame.id))
        except FrontdeskError as exc:
            await self._try_send_error(exc.code, exc.message, frame.id)
        except DATABASE_DOWN as exc:  # no conversation could be started: the message is not saved
            log.warning("database unavailable before a message was stored: %s", exc)
            await self._try_send_error("unavailable", UNAVAILABLE, frame.id)
        except Exception:
            log.exception("turn failed on the socket")
            await self._try_send_error("internal", "something went wrong; your message is saved", frame.id)

    async def _try_send_error(self, code: str, message: str, reply_to: str) -> None:
        # If the customer left, the message and its outcome are stored all the same.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.error(code, message, reply_to)

    def verified_user(self, frame: HelloFrame) -> str | None:
        """The customer id of a hello, only when its user_hash proves it; never an unverified id."""
        return widget.verified_user(self.chat.services.secrets, self.bot, frame.user_id, frame.user_hash)

    async def hello(self, frame: HelloFrame) -> None:
        """Start a conversation, or resume one and send its history."""
        with Session(self.chat.services.engine, expire_on_commit=False) as session:
            self.bot = session.get(Bot, self.bot.id) or self.bot  # the identity secret may have changed
            user_id = self.verified_user(frame)
            conversation = widget.open_conversation(session, self.bot, frame.conversation_id, user_id, frame.locale)
            customer = {"name": frame.user_name, "email": frame.user_email} if user_id else {}
            self.conversation = widget.update_conversation(session, conversation.id, frame.locale, customer)
            self.follow(self.conversation.id)  # before reading history, so no agent message falls between
            history = store.history(session, self.conversation.id)
        await self.send(
            {
                "type": "ready",
                "conversation_id": self.conversation.id,
                "status": self.conversation.status,
                "customer": self.conversation.external_user_id,
                "bot": BotPublic.of(self.bot).model_dump(),
                "history": [MessagePublic.of(m).model_dump(mode="json") for m in history],
            }
        )

    async def message(self, frame: MessageFrame, cancel: threading.Event) -> None:
        """Persist, acknowledge, stream the reply, send the final frame."""
        if self.conversation is None:
            with Session(self.chat.services.engine, expire_on_commit=False) as session:
                self.conversation = store.start_conversation(session, self.bot, "web")
            self.follow(self.conversation.id)
            if self.limiter is not None:  # the first message counts against the new conversation too
                await self.limiter.hit("conversation", self.conversation.id)
        conversation = self.conversation

        async def acked(message: Message) -> None:
            await self.send(
                {
                    "type": "ack",
                    "id": frame.id,
                    "message_id": message.id,
                    "conversation_id": conversation.id,
                }
            )

        async def chunk(piece: str) -> None:
            await self.stream({"type": "chunk", "reply_to": frame.id, "text": piece}, cancel)

        async def reset() -> None:
            await self.stream({"type": "reset", "reply_to": frame.id}, cancel)

        outcome = await self.chat.turn(
            self.bot, conversation, frame.text, frame.id, acked, chunk, cancel=cancel, send_reset=reset
        )
        if outcome.reply is None:  # a person holds the conversation: the bot stays silent
            await self.stream({"type": "queued", "reply_to": frame.id}, cancel)
            return
        if cancel.is_set():
            return  # superseded by a newer message or the customer left: the reply is stored
        reply = outcome.reply
        await self.send(
            {
                "type": "final",
                "reply_to": frame.id,
                "message_id": reply.id,
                "text": reply.text,
                "citations": reply.citations,
                "intent": reply.intent,
                "fallback": reply.fallback,
                "handoff": bool((reply.trace or {}).get("handoff")),
                "quick_replies": (reply.trace or {}).get("quick_replies") or [],
            }
        )
        self.speak_later(frame.id, conversation.id, reply)

    def speak_later(self, reply_to: str, conversation_id: str, reply: Message) -> None:
        """Speak a typed message's reply in the background (bots set to "always"); the next turn need not wait."""
        if not voice_service(self.ws.app).engine.speaks:
            return
        task = asyncio.create_task(self.send_audio(reply_to, conversation_id, reply))
        self.speaking.add(task)
        task.add_done_callback(self.speaking.discard)

    async def send_audio(self, reply_to: str, conversation_id: str, reply: Message) -> None:
        """Synthesise the reply off the event loop and send an `audio` frame; a failure only goes on the trace."""
        try:
            spoken = await voice_service(self.ws.app).speak_typed(self.bot, conversation_id, reply)
        except Exception:  # the text reply is out already: audio is a bonus, never a broken turn
            log.exception("reply %s not spoken on the socket", reply.id)
            return
        if spoken is None:
            return
        url = self.ws.url_for(
            "voice_audio", public_key=self.bot.public_key, conversation_id=conversation_id, name=spoken.name
        )
        frame = {
            "type": "audio", "reply_to": reply_to, "message_id": reply.id, "url": str(url),
            "media_type": spoken.media_type, "language": spoken.language,
        }
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the customer left: the audio is stored
            await self.send(frame)


def refuse_nul(frame: Any) -> None:
    """PostgreSQL cannot store NUL: refuse a frame with one in any field (BadRequest names the field)."""
    where = find_nul(frame.model_dump(mode="json"), "frame")
    if where:
        raise BadRequest(f"{where}: text must not contain NUL characters")


def _describe(exc: ValidationError, raw: str) -> tuple[str, str, str | None]:
    """An error code and message for an invalid frame."""
    if exc.errors()[0]["type"] == "json_invalid":
        return "bad_json", "frame is not valid JSON", None
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    kind = data.get("type") if isinstance(data, dict) else None
    reply_to = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
    if kind not in FRAME_TYPES:
        return "unknown_type", f"unknown frame type {kind!r}; expected one of {', '.join(FRAME_TYPES)}", None
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
    return "bad_request", f"{where}: {first['msg']}", reply_to


async def refuse(ws: WebSocket, exc: FrontdeskError, close_code: int) -> None:
    """Send one error frame and close the socket with close_code (the reason says why)."""
    await ws.send_text(json.dumps({"type": "error", "code": exc.code, "message": exc.message}))
    await ws.close(code=close_code, reason=exc.code)


async def serve_bot(ws: WebSocket, find: Callable[[Session], Bot]) -> None:
    """Accept, find the bot, check the page's origin, then chat until the client leaves."""
    await ws.accept()
    state = ws.app.state
    limiter: RateLimiter = state.limiter
    ip = limiter.client_ip(ws.client.host if ws.client else None, ws.headers)
    if state.drain.draining:
        await ws.send_text(json.dumps({"type": "closing"}))
        return await ws.close(code=CLOSE_RESTART, reason="closing")
    try:
        await limiter.check("ws_connect", ip)
    except RetryLater as exc:
        await ws.send_text(json.dumps(exc.frame()))
        return await ws.close(code=CLOSE_TRY_LATER, reason=exc.code)
    with Session(ws.app.state.services.engine, expire_on_commit=False) as session:
        try:
            bot = find(session)
        except FrontdeskError as exc:
            return await refuse(ws, exc, CLOSE_UNKNOWN)
        except DATABASE_DOWN as exc:  # the widget reconnects later, as after a 1013 for a rate limit
            log.warning("database unavailable when a socket connected: %s", exc)
            return await refuse(ws, Unavailable(DATABASE_UNAVAILABLE), CLOSE_TRY_LATER)
    try:
        widget.check_origin(bot, ws.headers.get("origin"), ws.headers.get("host"))
    except widget.OriginRefused as exc:
        log.info("refused a widget socket for bot %s: %s", bot.slug, exc.message)
        return await refuse(ws, exc, CLOSE_FORBIDDEN)
    try:
        await ChatSocket(ws, bot, state.chat, state.hub, limiter, ip, state.drain).serve()
    except WebSocketDisconnect:
        log.debug("socket closed for bot %s", bot.slug)


@router.websocket("/ws/chat/{bot_slug}")
async def chat_socket(ws: WebSocket, bot_slug: str) -> None:
    """Chat with a bot over a websocket, naming it by slug (apps, the protocol tests)."""
    await serve_bot(ws, lambda session: store.get_bot(session, bot_slug))


@router.websocket("/ws/widget/{public_key}")
async def widget_socket(ws: WebSocket, public_key: str) -> None:
    """The website widget's socket: the bot is named by its public key."""
    await serve_bot(ws, lambda session: widget.bot_by_key(session, public_key))
