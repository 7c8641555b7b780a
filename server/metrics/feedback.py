"""Storing customer feedback: a thumb on one bot reply, or a 1-5 CSAT rating of a conversation."""

from __future__ import annotations

from sqlmodel import Session, col, select

from server.errors import BadRequest, NotFound
from server.metrics import rollup
from server.tables import Conversation, Feedback, Message


def record(
    session: Session, conversation_id: str, kind: str, score: int, message_id: str | None, comment: str | None
) -> Feedback:
    """Validate and store feedback; a second thumb on a reply (or CSAT of a conversation) replaces the first.

    Raises:
        NotFound: the conversation or message does not exist (or is not in this conversation).
        BadRequest: the score is out of range, or the message is not a bot reply.
    """
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    check_score(kind, score)
    if kind == "thumb" and message_id is None:
        raise BadRequest("a thumb needs the message_id of a bot reply", code="missing_message")
    if message_id is not None:
        check_bot_message(session, conversation_id, message_id)
    feedback = existing(session, conversation_id, kind, message_id) or Feedback(
        bot_id=conversation.bot_id, conversation_id=conversation_id, kind=kind, score=score
    )
    feedback.score, feedback.comment, feedback.message_id = score, comment, message_id
    session.add(feedback)
    rollup.invalidate_conversation(session, conversation)  # late feedback changes a closed day's figures
    session.commit()
    return feedback


def check_score(kind: str, score: int) -> None:
    """A thumb is +1 or -1; a CSAT rating is 1 to 5."""
    if kind == "thumb" and score not in (1, -1):
        raise BadRequest("a thumb's score is 1 or -1", code="invalid_score")
    if kind == "csat" and not 1 <= score <= 5:
        raise BadRequest("a CSAT score is 1 to 5", code="invalid_score")


def check_bot_message(session: Session, conversation_id: str, message_id: str) -> None:
    """The message exists in this conversation and is a bot reply."""
    message = session.get(Message, message_id)
    if message is None or message.conversation_id != conversation_id:
        raise NotFound(f"no message {message_id!r} in this conversation", code="unknown_message")
    if message.role != "bot":
        raise BadRequest("feedback is given on bot replies only", code="not_a_bot_message")


def existing(session: Session, conversation_id: str, kind: str, message_id: str | None) -> Feedback | None:
    """The feedback a new one replaces: the thumb on the same reply, or the conversation's CSAT."""
    query = select(Feedback).where(col(Feedback.conversation_id) == conversation_id, col(Feedback.kind) == kind)
    if kind == "thumb":
        query = query.where(col(Feedback.message_id) == message_id)
    return session.exec(query.order_by(col(Feedback.created_at).desc())).first()
