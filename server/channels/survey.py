"""Satisfaction on messaging channels: a 1-5 survey after an agent resolves, and thumbs on replies.

When an agent resolves a channel conversation and the bot's `channel_csat_on_resolve` setting is
on, a survey message (a bot Message whose trace has `survey`) goes to the customer with 1-5
buttons where the platform has them. The survey stays pending while that resolved conversation is
the customer's latest one on the channel and its last bot message is the survey (or the thanks for
an earlier answer, so a second answer replaces the first), for SURVEY_HOURS: all of it read from
the database, so any worker can take the customer's next message. A next message that is a 1-5
answer ("4", "4 great support", "４", "4分", "4 - too slow", a button; not "3 items are missing":
server/channels/survey_answers.py) is stored in the resolved conversation, becomes a `Feedback` csat
row (server/metrics/feedback.py) and is thanked instead of going to the bot; anything else starts a
new conversation as usual, which ends the survey.

The survey and the thanks are stored with their fixed wording (server/channels/survey_texts.py) and
`trace.survey`; by both, the metrics count them as no bot replies and the rating they thank as no
customer message (server/metrics/counts.py).

Thumbs: with `channel_thumbs` on, Telegram replies carry 👍/👎 inline buttons whose callback data is
`thumb:<±1>:<reply id>` (THUMB); a press becomes a `Feedback` thumb on that reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.handoff import RESOLVED
from server.channels import buttons as qr
from server.channels.base import BaseChannel, InboundMessage, OutboundReply
from server.channels.survey_answers import split_answer
from server.channels.survey_texts import TEXTS
from server.metrics import feedback as feedback_store
from server.tables import Bot, Conversation, Message, utcnow
from server.widget import settings_of

SURVEY_HOURS = 48  # WeChat's customer-service window; WhatsApp's is 24 h from the customer's last message
COMMENT_CHARS = 1000  # as the widget's feedback API
RECENT_CUSTOMER_MESSAGES = 20  # where to look for the channel address of a conversation

THUMB = re.compile(r"^thumb:(1|-1):([A-Za-z0-9_]{1,60})$")


@dataclass(frozen=True)
class Rating:
    """A customer's answer to the survey: the score and what they wrote after it."""

    score: int
    comment: str | None


def language(locale: str | None, text: str = "") -> str:
    """'zh' when the customer writes Chinese (CJK characters, as buttons.py picks wording) or the
    locale is Chinese, else 'en'."""
    return "zh" if qr.is_cjk(text) or (locale or "").lower().startswith("zh") else "en"


def scale_buttons(lang: str) -> list[dict[str, str]]:
    """The five survey buttons: the title shows the scale, the payload is the bare number."""
    return [{"title": title, "payload": str(n)} for n, title in enumerate(TEXTS[lang]["scale"], 1)]


def parse_rating(text: str) -> Rating | None:
    """A 1-5 answer with an optional comment ("5 thanks", "４", "4分", "csat:3"), else None.

    "3 items are missing" is not an answer: see server/channels/survey_answers.py for what is.
    """
    answer = split_answer(text)
    if answer is None:
        return None
    score, comment = answer
    titles = {qr.normalise(t.split(" ", 1)[1].lstrip("– ")) for lang in TEXTS for t in TEXTS[lang]["scale"]}
    if not comment or qr.normalise(comment) in titles:  # a reply keyboard sends the button's title
        return Rating(score, None)
    return Rating(score, comment[:COMMENT_CHARS])


def parse_thumb(text: str) -> tuple[int, str] | None:
    """(score, reply id) of a thumb button's callback data, else None."""
    match = THUMB.match(text.strip())
    return (int(match.group(1)), match.group(2)) if match else None


def thumb_data(score: int, reply_id: str) -> str:
    """The callback data of a thumb button (at most 64 bytes for the ids Frontdesk makes)."""
    return f"thumb:{score}:{reply_id}"


def channel_target(channel_id: str, address: dict[str, Any], locale: str | None) -> dict[str, Any]:
    """What to store on a customer message so a later survey can reach the customer."""
    return {"id": channel_id, "address": address, "locale": locale}


def target_of(session: Session, conversation_id: str) -> dict[str, Any] | None:
    """The channel id and address of the conversation's latest customer message that has one."""
    query = (
        select(Message.trace)
        .where(Message.conversation_id == conversation_id, Message.role == "customer")
        .order_by(col(Message.created_at).desc())
        .limit(RECENT_CUSTOMER_MESSAGES)
    )
    for trace in session.exec(query).all():
        target = (trace or {}).get("channel")
        if isinstance(target, dict) and target.get("id") and isinstance(target.get("address"), dict):
            return target
    return None


def conversation_language(session: Session, conversation: Conversation, target: dict[str, Any]) -> str:
    """The survey's language: Chinese when the customer last wrote Chinese or their locale is zh."""
    last = session.exec(
        select(Message.text)
        .where(Message.conversation_id == conversation.id, Message.role == "customer")
        .order_by(col(Message.created_at).desc())
    ).first()
    return language(conversation.locale or target.get("locale"), last or "")


def prepare(session: Session, conversation_id: str) -> tuple[Conversation, Message] | None:
    """Store the survey of a resolved channel conversation when its bot asks for one; None otherwise.

    None also when the customer cannot be reached (no channel address stored: a widget or API
    conversation, or messages from before addresses were kept) or a survey was already stored.
    """
    conversation = session.get(Conversation, conversation_id)
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    if conversation is None or bot is None or conversation.status != RESOLVED:
        return None
    if not settings_of(bot).channel_csat_on_resolve:
        return None
    target = target_of(session, conversation.id)
    if target is None or last_survey(session, conversation.id) is not None:
        return None
    lang = conversation_language(session, conversation, target)
    survey = Message(
        conversation_id=conversation.id,
        role="bot",
        text=TEXTS[lang]["ask"],
        status="sent",
        trace={
            "survey": {"kind": "csat", "state": "pending", "lang": lang},
            "quick_replies": scale_buttons(lang),
            "channel": target,
        },
    )
    session.add(survey)
    session.commit()
    return conversation, survey


def last_survey(session: Session, conversation_id: str) -> Message | None:
    """The conversation's last bot message when it is the survey or the thanks for an answer."""
    last = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.role == "bot")
        .order_by(col(Message.created_at).desc())
    ).first()
    return last if last is not None and "survey" in (last.trace or {}) else None


def pending(
    session: Session, bot_id: str, channel: str, user_id: str, now: datetime | None = None
) -> Conversation | None:
    """The resolved conversation whose survey this customer may answer now, or None."""
    latest = session.exec(
        select(Conversation)
        .where(
            Conversation.bot_id == bot_id,
            Conversation.channel == channel,
            Conversation.external_user_id == user_id,
        )
        .order_by(col(Conversation.updated_at).desc())
    ).first()
    if latest is None or latest.status != RESOLVED:
        return None
    asked = last_survey(session, latest.id)
    if asked is None or (asked.trace or {})["survey"].get("state") == "unsent":  # they never saw it
        return None
    moment = now or utcnow()
    sent = asked.created_at if asked.created_at.tzinfo else asked.created_at.replace(tzinfo=UTC)
    return latest if moment - sent <= timedelta(hours=SURVEY_HOURS) else None


def mark_unsent(session: Session, survey_id: str, reason: str) -> None:
    """The platform refused the survey (e.g. outside WhatsApp's 24 h window): no answer is awaited."""
    asked = session.get(Message, survey_id)
    if asked is not None and asked.trace:
        asked.trace = {**asked.trace, "survey": {**asked.trace["survey"], "state": "unsent", "error": reason[:300]}}
        session.add(asked)
        session.commit()


def record_rating(session: Session, conversation: Conversation, customer: Message, rating: Rating) -> Message:
    """Store the rating (replacing an earlier one), the thanks, and mark the customer message answered."""
    feedback_store.record(session, conversation.id, "csat", rating.score, None, rating.comment)
    asked = last_survey(session, conversation.id)
    lang = ((asked.trace or {}).get("survey") or {}).get("lang", "en") if asked else "en"
    if lang not in TEXTS:
        lang = "en"
    thanks = Message(
        conversation_id=conversation.id,
        role="bot",
        text=TEXTS[lang]["thanks"],
        reply_to=customer.id,
        status="sent",
        trace={"survey": {"kind": "csat", "state": "answered", "lang": lang, "score": rating.score}},
    )
    session.add(thanks)
    session.exec(  # type: ignore[call-overload]
        update(Message).where(col(Message.id) == customer.id).values(status="answered")
    )
    session.commit()
    return thanks


def record_thumb(session: Session, bot_id: str, channel: str, user_id: str, score: int, reply_id: str) -> bool:
    """Store a thumb on a bot reply of this customer's conversation; False when the reply is not theirs."""
    reply = session.get(Message, reply_id)
    conversation = session.get(Conversation, reply.conversation_id) if reply else None
    if (
        reply is None
        or reply.role != "bot"
        or conversation is None
        or (conversation.bot_id, conversation.channel, conversation.external_user_id) != (bot_id, channel, user_id)
    ):
        return False
    feedback_store.record(session, conversation.id, "thumb", score, reply.id, None)
    return True


def outbound(channel: BaseChannel, asked: Message, to: InboundMessage) -> OutboundReply:
    """The survey as a reply to send: 1-5 buttons where the platform shows its own (the text already
    says "Reply 1–5", so no numbered lines are added elsewhere), and no 👍/👎 under it."""
    lang = ((asked.trace or {}).get("survey") or {}).get("lang", "en")
    reply = OutboundReply(asked.id, to, asked.text, [], qr.clean((asked.trace or {}).get("quick_replies")))
    reply.rateable, reply.menu_label = False, TEXTS.get(lang, TEXTS["en"])["menu"]
    if not channel.native_buttons(reply) and channel.kind != "generic":  # generic apps get the buttons as JSON
        reply.quick_replies = []
    return reply
