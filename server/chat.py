"""One customer turn end to end: persist, run the pipeline off the event loop, stream, persist."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot import handoff
from bot.errors import GenerationBusy
from bot.types import BotReply, ConversationState, Trace
from server import store
from server.admission import Admission, Busy, record_busy
from server.context import Services
from server.db import DATABASE_DOWN
from server.errors import BadRequest, FrontdeskError, Unavailable
from server.privacy import text_to_store
from server.tables import Bot, Conversation, Message

log = logging.getLogger(__name__)
SendChunk = Callable[[str], Awaitable[None]]
RESTART = object()  # queued when the streamed pieces so far must be discarded
UNAVAILABLE = "we could not save your message just now; please send it again"  # resending is idempotent per id
REPLY_UNAVAILABLE = "your message is saved but we could not save the reply just now; please send it again"


@dataclass
class TurnOutcome:
    """The stored customer message and the stored reply (None while a person holds the conversation)."""

    customer: Message
    reply: Message | None
    duplicate: bool
    status: str = handoff.BOT  # the conversation's status after the turn

    @property
    def held(self) -> bool:
        """The bot stayed silent: the conversation is queued for, or held by, a person."""
        return self.reply is None


class ChatService:
    """Runs turns for every channel; at most max_concurrent_turns pipelines at once."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = anyio.CapacityLimiter(services.settings.max_concurrent_turns)
        limits = services.settings.rate_limits
        self.admission = Admission(self.limiter, limits.max_queued_turns, limits.busy_retry_after_seconds)

    def check_text(self, text: object) -> str:
        """Validate a customer's text: a non-empty string within the size limit."""
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        if "\x00" in text:  # PostgreSQL cannot store it: refuse it here rather than fail the turn
            raise BadRequest("text must not contain NUL characters")
        limit = self.services.settings.max_message_chars
        if len(text) > limit:
            raise BadRequest(f"text is longer than {limit} characters", code="too_long")
        return text.strip()

    async def turn(
        self,
        bot: Bot,
        conversation: Conversation,
        text: str,
        client_id: str | None,
        on_received: Callable[[Message], Awaitable[None]] | None = None,
        send_chunk: SendChunk | None = None,
        cancel: threading.Event | None = None,
        send_reset: Callable[[], Awaitable[None]] | None = None,
    ) -> TurnOutcome:
        """Persist the message, answer it (streaming pieces to send_chunk) and persist the reply."""
        text = self.check_text(text)
        engine = self.services.engine
        try:
            with Session(engine, expire_on_commit=False) as session:
                received = store.receive(session, conversation, text_to_store(session, bot, text), client_id)
                status = store.reopen_if_resolved(session, conversation.id)
                earlier = store.history(session, conversation.id, limit=21)
                past = store.turns([m for m in earlier if m.id != received.message.id][-20:])
                state = load_state(session, conversation.id)
        except DATABASE_DOWN as exc:  # the database is down: never claim the message is saved
            log.warning("database unavailable while receiving a message: %s", exc)
            raise Unavailable(UNAVAILABLE) from exc
        before = copy.deepcopy(state)
        if on_received:
            await on_received(received.message)
        if received.duplicate and received.reply is not None:
            return TurnOutcome(received.message, received.reply, True, status)
        if not handoff.bot_answers(status):  # a person answers
            with saving_outcome(received.message), Session(engine, expire_on_commit=False) as session:
                store.mark_held(session, received.message)
            return TurnOutcome(received.message, None, received.duplicate, status)
        cancel = cancel or threading.Event()
        try:
            reply = await self._answer(bot.slug, text, past, conversation, send_chunk, send_reset, cancel, state)
        except Busy as exc:  # the wait queue is full: the message stays stored with that outcome
            with saving_outcome(received.message):
                record_busy(engine, received.message, exc)
            raise
        except GenerationBusy as exc:  # the model is full and the passages gave no answer: the same busy
            busy = Busy.from_generation(exc, self.admission.retry_after)
            with saving_outcome(received.message):
                record_busy(engine, received.message, busy)
            raise busy from exc
        except Exception as exc:
            log.exception("turn failed for conversation %s", conversation.id)
            with saving_outcome(received.message), Session(engine, expire_on_commit=False) as session:
                store.record_failure(session, received.message, f"{type(exc).__name__}: {exc}")
            reply = self._failure_reply(bot, exc)
        with saving_outcome(received.message), Session(engine, expire_on_commit=False) as session:
            stored = store.record_reply(session, received.message, reply)
            if reply.state is not None:
                save_state(session, conversation.id, before, reply.state)
            if reply.trace.handoff:
                status = self._queue(session, conversation.id)
        return TurnOutcome(received.message, stored, received.duplicate, status)

    @staticmethod
    def _queue(session: Session, conversation_id: str) -> str:
        """The turn asked for a person: queue the conversation (unless it moved meanwhile)."""
        try:
            return store.transition(session, conversation_id, handoff.HANDOFF)
        except FrontdeskError as exc:
            log.warning("handoff of %s not applied: %s", conversation_id, exc.message)
            return store.status_of(session, conversation_id)

    async def _answer(
        self, slug: str, text: str, past: list, conversation: Conversation, send_chunk: SendChunk | None,
        send_reset: Callable[[], Awaitable[None]] | None, cancel: threading.Event,
        state: ConversationState | None = None,
    ) -> BotReply:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def emit(piece: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        def work() -> BotReply:
            runtime = self.services.runtimes.get(slug)
            return runtime.answer(
                text, past, emit, cancel, conversation.channel, conversation.locale, lambda: emit(RESTART), state
            )

        async def forward(item: object) -> None:
            if item is RESTART:
                if send_reset:
                    await send_reset()
            elif send_chunk:
                await send_chunk(str(item))

        job = self.admission.start(anyio.to_thread.run_sync, work, limiter=self.limiter)
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await forward(getter.result())
                    continue
                getter.cancel()
                while not queue.empty():
                    await forward(queue.get_nowait())
                return job.result()
        except asyncio.CancelledError:
            cancel.set()  # the request or socket task was cancelled: stop generating
            raise

    @staticmethod
    def _failure_reply(bot: Bot, exc: Exception) -> BotReply:
        trace = Trace(fallback_reason=f"internal error: {type(exc).__name__}")
        text = bot.fallback or "Sorry, something went wrong on our side. Please try again in a moment."
        return BotReply(text, [], None, True, trace)


@contextmanager
def saving_outcome(customer: Message) -> Iterator[None]:
    """Around the writes after the customer message is stored: if the database went away meanwhile, the
    caller gets a retryable Unavailable. The message stays stored without an outcome; re-sending it with
    the same id answers it, and the sweeper gives it a failed outcome if nobody does."""
    try:
        yield
    except DATABASE_DOWN as exc:
        log.warning("database unavailable while storing the outcome of message %s: %s", customer.id, exc)
        raise Unavailable(REPLY_UNAVAILABLE) from exc


def load_state(session: Session, conversation_id: str) -> ConversationState:
    """The conversation's attributes and slot-filling flow, read fresh (another socket or worker may
    have run the last turn), and how many customer messages it has."""
    attributes, flow = session.exec(
        select(Conversation.attributes, Conversation.flow).where(Conversation.id == conversation_id)
    ).one()
    count = session.exec(
        select(func.count()).where(Message.conversation_id == conversation_id, Message.role == "customer")
    ).one()
    return ConversationState(dict(attributes or {}), copy.deepcopy(flow), int(count))


def save_state(session: Session, conversation_id: str, before: ConversationState, after: ConversationState) -> None:
    """Persist the attributes and flow a turn changed, so they outlive the socket and the process."""
    if (before.attributes, before.flow) == (after.attributes, after.flow):
        return
    session.exec(  # type: ignore[call-overload]
        update(Conversation)
        .where(col(Conversation.id) == conversation_id)
        .values(attributes=after.attributes, flow=after.flow)
    )
    session.commit()
