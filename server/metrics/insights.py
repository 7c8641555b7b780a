"""What to fix next: first-response latency, clustered unanswered questions and knowledge gaps.

Each works on a bounded, indexed sample of the most recent rows in scope, so its cost does not
grow with the size of the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from knowledge.config import KnowledgeSettings
from server.metrics.counts import not_survey, opening_intent
from server.metrics.scope import Scope
from server.tables import Conversation, Message

FIRST_RESPONSE_SAMPLE = 1000  # most recent conversations in range
CLUSTER_SAMPLE = 500  # most recent unanswered questions in range
GAP_SAMPLE = 1000  # most recent bot replies in range, searched for low retrieval scores
SIMILARITY = 0.5  # cosine of character n-gram TF-IDF vectors at or above which two questions group
MAX_CLUSTERS = 15
MAX_GAPS = 20
LOW_SCORE: float = KnowledgeSettings.model_fields["min_score"].default  # the bot's "do not know" line


@dataclass
class Cluster:
    """Similar unanswered questions: the most recent one stands for the group."""

    text: str
    count: int
    conversation_id: str
    last_at: datetime
    examples: list[str] = field(default_factory=list)  # up to three other wordings


@dataclass
class Gap:
    """A question the knowledge base could not answer well: its best retrieval score was low."""

    text: str
    conversation_id: str
    best_score: float | None  # None: no passage was found at all
    fallback: bool
    created_at: datetime


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values, or None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100)
    return sorted_values[int(rank) - 1]


def first_response_percentiles(
    session: Session, scope: Scope, limit: int = FIRST_RESPONSE_SAMPLE
) -> tuple[float | None, float | None]:
    """p50 and p95 (ms) from a conversation's first customer message to the first bot or agent message after it.

    Over the most recent `limit` conversations started in range that got such a reply.
    """
    customer, responder = aliased(Message), aliased(Message)
    first_customer = (
        select(func.min(customer.created_at))
        .where(col(customer.conversation_id) == col(Conversation.id), col(customer.role) == "customer")
        .correlate(Conversation)
        .scalar_subquery()
    )
    first_response = (
        select(func.min(responder.created_at))
        .where(
            col(responder.conversation_id) == col(Conversation.id),
            col(responder.role).in_(("bot", "agent")),
            not_survey(responder),  # a survey sent at resolution answers nothing
            col(responder.created_at) >= first_customer,
        )
        .correlate(Conversation)
        .scalar_subquery()
    )
    query = select(first_customer, first_response).where(*scope.conversations())
    if scope.intent is not None:
        query = query.where(opening_intent() == scope.intent)
    rows = session.exec(query.order_by(col(Conversation.created_at).desc()).limit(limit)).all()
    values = sorted(
        (_aware(answered) - _aware(asked)).total_seconds() * 1000
        for asked, answered in rows
        if asked is not None and answered is not None
    )
    return percentile(values, 50), percentile(values, 95)


@dataclass
class Question:
    """A customer question whose stored reply was the fallback."""

    conversation_id: str
    text: str
    created_at: datetime


def fallback_questions(session: Session, scope: Scope, limit: int = CLUSTER_SAMPLE) -> list[Question]:
    """The customer questions of the most recent `limit` fallback replies in range, newest first.

    The intent filter applies to the reply (which carries the same intent as its question), so the
    planner can start from the intent index when one is chosen.
    """
    customer, reply = aliased(Message), aliased(Message)
    rows = session.exec(
        select(customer.conversation_id, customer.text, customer.created_at)
        .select_from(reply)
        .join(customer, col(customer.id) == col(reply.reply_to))
        .join(Conversation, col(Conversation.id) == col(reply.conversation_id))
        .where(*scope.messages(reply), *scope.message_intent(reply))
        .where(col(reply.role) == "bot", col(reply.fallback), col(customer.role) == "customer")
        .order_by(col(reply.created_at).desc())
        .limit(limit)
    ).all()
    return [Question(conversation_id=c, text=t, created_at=at) for c, t, at in rows]


def unanswered_clusters(session: Session, scope: Scope, limit: int = CLUSTER_SAMPLE) -> list[Cluster]:
    """The questions of the most recent `limit` fallback replies, grouped by similar wording."""
    return cluster(fallback_questions(session, scope, limit))


def cluster(questions: list[Question]) -> list[Cluster]:
    """Group questions (newest first) by similar wording: biggest groups first, ties the most recent first."""
    groups = group_similar([q.text for q in questions])
    clusters = []
    for members in groups:
        leader = questions[members[0]]
        same = leader.text.strip()
        wordings = [w for w in dict.fromkeys(questions[i].text.strip() for i in members[1:]) if w != same]
        clusters.append(Cluster(leader.text, len(members), leader.conversation_id, leader.created_at, wordings[:3]))
    clusters.sort(key=lambda c: -c.count)  # stable: equal counts keep the most recent first
    return clusters[:MAX_CLUSTERS]


def group_similar(texts: list[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """Leader clustering of texts by cosine of character 2-4-gram TF-IDF vectors (any language).

    Each text joins the first group whose leader is at least `threshold` similar, else starts a
    group; groups are lists of indexes, leader first, in input order.
    """
    if not texts:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer  # imported when first needed (slow import)

    normalised = [" ".join(t.lower().split()) or "?" for t in texts]
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit_transform(normalised)
    similarity = (vectors @ vectors.T).toarray()  # rows are L2-normalised: dot products are cosines
    leaders: list[int] = []
    groups: list[list[int]] = []
    for i in range(len(texts)):
        best = max(range(len(leaders)), key=lambda g: similarity[i, leaders[g]], default=None)
        if best is not None and similarity[i, leaders[best]] >= threshold:
            groups[best].append(i)
        else:
            leaders.append(i)
            groups.append([i])
    return groups


def knowledge_gaps(session: Session, scope: Scope, limit: int = GAP_SAMPLE, low: float = LOW_SCORE) -> list[Gap]:
    """Questions among the most recent `limit` bot replies whose retrieval found nothing or only low scores.

    A reply counts when its trace shows the knowledge base was searched (a "passages" list, or the
    fallback reason "no relevant passage") and its best passage score is below `low`. Replies chosen
    by a rule or flow without a search are not gaps.
    """
    customer, reply = aliased(Message), aliased(Message)
    rows = session.exec(
        select(reply.trace, reply.fallback, customer.text, customer.conversation_id, customer.created_at)
        .select_from(reply)
        .join(customer, col(customer.id) == col(reply.reply_to))
        .join(Conversation, col(Conversation.id) == col(reply.conversation_id))
        .where(*scope.messages(reply), *scope.message_intent(reply), col(reply.role) == "bot")
        .order_by(col(reply.created_at).desc())
        .limit(limit)
    ).all()
    gaps = []
    for trace, fallback, text, conversation_id, created_at in rows:
        searched, best = retrieval_score(trace)
        if searched and (best is None or best < low):
            gaps.append(Gap(text, conversation_id, best, bool(fallback), created_at))
            if len(gaps) >= MAX_GAPS:
                break
    return gaps


def retrieval_score(trace: dict[str, Any] | None) -> tuple[bool, float | None]:
    """(whether the knowledge base was searched, the best passage score or None) from a reply's trace."""
    trace = trace or {}
    passages = trace.get("passages")
    scores = [
        float(p["score"]) for p in passages or [] if isinstance(p, dict) and isinstance(p.get("score"), int | float)
    ]
    searched = bool(scores) or trace.get("fallback_reason") == "no relevant passage"
    return searched, max(scores) if scores else None


def _aware(value: datetime | str) -> datetime:
    """A naive (SQLite) or string datetime as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
