"""Runs webhooks: find the channel, verify, persist each message, answer and send later."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass

import httpx
from fastapi import BackgroundTasks
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server import store
from server.admission import Busy
from server.channels import buttons as qr
from server.channels import survey
from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    WebhookAnswer,
    WebhookRequest,
    outbound_for,
)
from server.channels.base import create_channel as build_channel
from server.channels.delivery import RetryPolicy, SendError, parts_sent
from server.chat import ChatService
from server.errors import FrontdeskError, NotFound
from server.tables import Bot, ChannelConfig, ChannelDelivery, Conversation, Message, utcnow
from server.voice_turns import ChannelVoice
from server.widget import settings_of

log = logging.getLogger(__name__)


class DbDeliveries:
    """At-most-once sends across workers: a ChannelDelivery row per reply, unique by message id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, reply_id: str, channel_id: str) -> bool:
        """Insert the delivery row, or take over a failed one; False when sent or being sent."""
        with Session(self.engine) as session:
            session.add(ChannelDelivery(message_id=reply_id, channel_id=channel_id))
            try:
                session.commit()
                return True
            except IntegrityError:
                session.rollback()
            retry = (
                update(ChannelDelivery)
                .where(
                    col(ChannelDelivery.message_id) == reply_id,
                    col(ChannelDelivery.status) == "failed",
                )
                .values(
                    status="sending",
                    attempts=col(ChannelDelivery.attempts) + 1,
                    updated_at=utcnow(),
                )
            )
            taken = session.exec(retry).rowcount == 1  # type: ignore[call-overload]
            session.commit()
            return taken

    def sent_parts(self, reply_id: str) -> int:
        """Parts of the reply a failed earlier try sent (read from the row's `error`)."""
        with Session(self.engine) as session:
            query = select(ChannelDelivery.error).where(ChannelDelivery.message_id == reply_id)
            return parts_sent(session.exec(query).first())

    def finish(self, reply_id: str, ok: bool, error: str | None = None) -> None:
        """Record sent or failed (with a short reason, never a secret-bearing URL)."""
        with Session(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(ChannelDelivery)
                .where(col(ChannelDelivery.message_id) == reply_id)
                .values(status="sent" if ok else "failed", error=error, updated_at=utcnow())
            )
            session.commit()


class RedactTokens(logging.Filter):
    """Hides tokens that platforms put in URLs (Telegram's /bot<token>/, WeChat's access_token)."""

    PATTERN = re.compile(r"(/bot)[^/\s]+|(access_token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with tokens replaced by ***."""
        message = record.getMessage()
        redacted = self.PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install_redaction() -> None:
    """Attach RedactTokens to httpx's request logger once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())


@dataclass(frozen=True)
class BusyRetry:
    """How a channel message refused as busy is re-run: attempts in all, and the longest wait between them."""

    attempts: int = 4
    max_wait: float = 15.0


class ChannelService:
    """The webhooks' logic; one per app, built in the channels router's lifespan."""

    def __init__(
        self,
        chat: ChatService,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        voice: ChannelVoice | None = None,
        busy: BusyRetry | None = None,
    ) -> None:
        self.chat = chat
        self.busy = busy or BusyRetry()
        self.voice = voice  # voice notes in, spoken replies out (server/voice_turns.py); None: text only
        self.engine = chat.services.engine
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        self.retry = retry or RetryPolicy()
        self.deliveries = DbDeliveries(self.engine)
        self._channels: dict[str, tuple[str, BaseChannel]] = {}
        install_redaction()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    def lookup(self, kind: str, bot_slug: str, channel_id: str) -> tuple[Bot, BaseChannel]:
        """The bot and its enabled channel named in the URL, else NotFound (one message for all)."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(ChannelConfig, channel_id)
            bot = session.get(Bot, row.bot_id) if row else None
        if (
            row is None
            or bot is None
            or not row.enabled
            or row.kind != kind
            or bot.slug != bot_slug
        ):
            raise NotFound("no such channel", code="unknown_channel")
        fingerprint = hashlib.sha256(json.dumps(row.config, sort_keys=True).encode()).hexdigest()
        cached = self._channels.get(row.id)  # built once; rebuilt when its config changes
        if cached is None or cached[0] != fingerprint:
            channel = build_channel(
                kind,
                self.chat.services.secrets.open(row.config),
                bot=bot.slug,
                http=self.http,
                retry=self.retry,
                deliveries=self.deliveries,
                channel_id=row.id,
            )
            cached = self._channels[row.id] = (fingerprint, channel)
        cached[1].thumbs = settings_of(bot).channel_thumbs  # read each time: the console may change it
        return bot, cached[1]

    async def handle(
        self,
        kind: str,
        bot_slug: str,
        channel_id: str,
        request: WebhookRequest,
        background: BackgroundTasks,
    ) -> WebhookAnswer:
        """Verify, answer a handshake, or persist the messages and schedule their answers.

        Returns:
            What to answer the platform now (a passive reply for WeChat when ready in time).
        """
        bot, channel = self.lookup(kind, bot_slug, channel_id)
        channel.verify(request)
        answer = channel.handshake(request)
        if answer is not None:
            return answer
        if request.method != "POST":
            raise FrontdeskError(
                "webhooks deliver messages with POST", code="method_not_allowed", status=405
            )
        pending, thanks = [], []
        for message in channel.parse(request):
            if self.thumb(bot, message):
                continue
            rated = self.rate(bot, channel, message)
            if isinstance(rated, Message):
                thanks.append((message, rated))
            if rated is not None:
                continue
            stored = self.persist(bot, message, channel.channel_id)
            if stored is None:
                continue
            conversation, received = stored
            if not received.duplicate or received.retried:  # new, or re-sent after a busy refusal
                pending.append((conversation, message))
            elif received.reply is not None:  # a redelivery: resend only if the first send failed
                background.add_task(self.deliver, channel, message, received.reply)
        log.info("%s webhook for bot %s: %d new message(s)", kind, bot_slug, len(pending))
        for message, reply in thanks:
            background.add_task(self.deliver, channel, message, reply)
        if channel.passive_timeout and len(pending) == 1 and pending[0][1].audio is None:
            return await self._passive(bot, channel, request, pending[0], background)
        for conversation, message in pending:
            background.add_task(self.answer, bot, conversation, channel, message)
        return channel.ack(request)

    def persist(
        self, bot: Bot, message: InboundMessage, channel_id: str = ""
    ) -> tuple[Conversation, store.Received] | None:
        """Store the customer message (idempotent by platform message id) before any model runs.

        An answer that picks one of the bot's last buttons ("1", or its title) is stored as that
        button's payload, as if the customer had tapped it. The message's trace keeps the channel
        and the platform address, so a later survey (server/channels/survey.py) can reach the customer.
        """
        limit = self.chat.services.settings.max_message_chars
        text = message.text.strip()[:limit]
        if not text:
            return None
        with Session(self.engine, expire_on_commit=False) as session:
            query = (
                select(Conversation)
                .where(
                    Conversation.bot_id == bot.id,
                    Conversation.channel == message.channel,
                    Conversation.external_user_id == message.user_id,
                    Conversation.status != "resolved",
                )
                .order_by(col(Conversation.updated_at).desc())
            )
            conversation = session.exec(query).first() or store.start_conversation(
                session, bot, message.channel, message.user_id, message.locale
            )
            message.text = (chosen_payload(session, conversation.id, text) or text)[:limit]  # "1" -> button 1
            received = store.receive(session, conversation, message.text, message.message_id)
            if channel_id and not received.duplicate:
                remember_target(session, received.message, channel_id, message)
            return conversation, received

    def thumb(self, bot: Bot, message: InboundMessage) -> bool:
        """A 👍/👎 press (callback data `thumb:±1:<reply id>`): store it as feedback, nothing else."""
        thumb = survey.parse_thumb(message.text)
        if thumb is None:
            return False
        with Session(self.engine) as session:
            if not survey.record_thumb(session, bot.id, message.channel, message.user_id, *thumb):
                log.info("ignored a thumb on a reply that is not this customer's")
        return True

    def rate(self, bot: Bot, channel: BaseChannel, message: InboundMessage) -> Message | bool | None:
        """A 1-5 answer to a pending survey: store it (the message, the rating, the thanks).

        Returns:
            The thanks to send; True for a redelivery already thanked; None when the message is
            not a survey answer (it then goes to the bot as usual).
        """
        text = message.text.strip()[: self.chat.services.settings.max_message_chars]
        rating = survey.parse_rating(text)
        if rating is None or message.audio is not None:
            return None
        with Session(self.engine, expire_on_commit=False) as session:
            conversation = survey.pending(session, bot.id, message.channel, message.user_id)
            if conversation is None:
                return None
            received = store.receive(session, conversation, text, message.message_id)
            if received.duplicate:
                return received.reply or True
            remember_target(session, received.message, channel.channel_id, message)
            return survey.record_rating(session, conversation, received.message, rating)

    async def send_survey(self, conversation_id: str) -> bool:
        """Store and send the survey of a conversation an agent resolved, when its bot asks for one.

        Returns:
            Whether a survey went out (False: not asked for, no channel address, or the send failed).
        """
        with Session(self.engine, expire_on_commit=False) as session:
            prepared = survey.prepare(session, conversation_id)
            bot = session.get(Bot, prepared[0].bot_id) if prepared else None
        if prepared is None or bot is None:
            return False
        conversation, asked = prepared
        target = (asked.trace or {})["channel"]
        try:
            _, channel = self.lookup(conversation.channel, bot.slug, str(target["id"]))
        except NotFound:
            log.warning("no survey for %s: its channel is gone or disabled", conversation_id)
            return False
        to = InboundMessage(
            bot=bot.slug,
            channel=conversation.channel,
            user_id=conversation.external_user_id or "",
            message_id="",
            text="",
            locale=target.get("locale"),
            address=dict(target["address"]),
            received_at=0.0,  # reply tokens (LINE) are long expired: push
        )
        outbound = survey.outbound(channel, asked, to)
        try:
            return await channel.send(outbound)
        except SendError as exc:
            log.warning("could not send the survey of %s on %s: %s", conversation_id, channel.kind, exc.message)
            with Session(self.engine) as session:
                survey.mark_unsent(session, asked.id, exc.message)
            return False

    async def turn(self, bot: Bot, conversation: Conversation, message: InboundMessage) -> Message | None:
        """Run the stored message's turn through ChatService; the stored reply (None: a person holds it).

        A platform has already been told "ok", so nobody re-sends a message refused as busy: the
        turn is re-run here after the server's retry_after, a few times. Each refusal is recorded on
        the message (status failed, trace outcome busy) and each re-run takes it up again (store.receive).
        """
        for attempt in range(self.busy.attempts):
            try:
                outcome = await self.chat.turn(bot, conversation, message.text, message.message_id)
                return outcome.reply
            except Busy as exc:
                if attempt + 1 == self.busy.attempts:
                    raise
                log.info("turn of %s message %s refused as busy; retry %d", message.channel, message.message_id,
                         attempt + 1)
                await asyncio.sleep(min(exc.retry_after, self.busy.max_wait))
        return None

    async def settled_turn(self, bot: Bot, conversation: Conversation, message: InboundMessage) -> Message | None:
        """turn(), with None also when the server stayed busy through every retry (the message keeps
        its busy outcome, and a platform redelivery of it runs the turn again)."""
        try:
            return await self.turn(bot, conversation, message)
        except Busy:
            log.warning("gave up on %s message %s: busy", message.channel, message.message_id)
            return None

    async def answer(
        self, bot: Bot, conversation: Conversation, channel: BaseChannel, message: InboundMessage
    ) -> None:
        """Background task: answer one message (transcribing a voice note first) and send the reply."""
        if message.audio is not None and self.voice is not None:
            try:
                await self.voice.answer(bot, conversation, channel, message, self.turn)
            except Busy:
                log.warning("gave up on %s voice message %s: busy", message.channel, message.message_id)
            return
        reply = await self.settled_turn(bot, conversation, message)
        if reply is not None:
            await self.deliver(channel, message, reply)
            if self.voice is not None:
                await self.voice.speak(bot, conversation, channel, message, reply, spoke=False)

    async def deliver(self, channel: BaseChannel, message: InboundMessage, reply: Message) -> None:
        """Send a stored reply (text, citations, quick replies) at most once; failures are logged."""
        try:
            await channel.send(outbound_for(reply, message))
        except SendError as exc:
            log.warning("could not send reply %s on %s: %s", reply.id, channel.kind, exc.message)

    async def deliver_rest(self, channel: BaseChannel, outbound: OutboundReply) -> None:
        """Send the parts after the first of a reply whose first part went as the passive answer."""
        try:
            await channel.send_claimed(outbound, start=1)
        except SendError as exc:
            log.warning("could not send the rest of reply %s on %s: %s", outbound.reply_id, channel.kind, exc.message)

    async def _passive(
        self,
        bot: Bot,
        channel: BaseChannel,
        request: WebhookRequest,
        pending: tuple[Conversation, InboundMessage],
        background: BackgroundTasks,
    ) -> WebhookAnswer:
        conversation, message = pending
        task = asyncio.create_task(self.settled_turn(bot, conversation, message))
        done, _ = await asyncio.wait({task}, timeout=channel.passive_timeout)
        if task in done:
            reply = task.result()
            if reply is None:  # queued for a person, or refused as busy: nothing to send now
                return channel.ack(request)
            outbound = outbound_for(reply, message)
            passive = channel.passive(outbound)
            if passive is not None and self.deliveries.claim(reply.id, channel.channel_id):
                if len(channel.format(outbound)) > 1:  # part 1 travels in this HTTP answer
                    background.add_task(self.deliver_rest, channel, outbound)
                else:
                    self.deliveries.finish(reply.id, True)  # it travels in this HTTP answer
                return passive
            background.add_task(self.deliver, channel, message, reply)
            return channel.ack(request)

        async def later() -> None:
            reply = await task
            if reply is not None:
                await self.deliver(channel, message, reply)

        background.add_task(later)
        return channel.ack(request)


def remember_target(session: Session, customer: Message, channel_id: str, message: InboundMessage) -> None:
    """Keep the channel and platform address on the stored customer message (for a later survey)."""
    customer.trace = {
        **(customer.trace or {}),
        "channel": survey.channel_target(channel_id, message.address, message.locale),
    }
    session.add(customer)
    session.commit()


def chosen_payload(session: Session, conversation_id: str, text: str) -> str | None:
    """The payload of the button a customer's answer picks ("1", or a title) from the quick
    replies of the bot's last reply in the conversation; None when it picks none."""
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.role == "bot")
        .order_by(col(Message.created_at).desc())
    )
    last = session.exec(query).first()
    if last is None:
        return None
    return qr.resolve_choice(text, qr.clean((last.trace or {}).get("quick_replies")))
