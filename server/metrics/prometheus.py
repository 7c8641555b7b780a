"""GET /metrics: Prometheus exposition of per-bot totals, read from the database at scrape time."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from server.errors import FrontdeskError
from server.tables import Bot, Conversation, Feedback, Message

router = APIRouter(tags=["ops"])


class DatabaseCollector(Collector):
    """Per-bot conversation, message, fallback and CSAT figures, one grouped query each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.slugs: list[str] = []

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (called at each scrape)."""
        with Session(self.engine) as session:
            self.slugs = list(session.exec(select(Bot.slug).order_by(Bot.slug)).all())
            yield self._counter(session, "conversations", "Conversations started.", Conversation)
            messages = CounterMetricFamily("frontdesk_messages", "Messages stored.", labels=["bot", "role"])
            query = _by_bot(select(Bot.slug, Message.role, func.count()), Message).group_by(Bot.slug, Message.role)
            for slug, role, n in session.exec(query).all():
                messages.add_metric([slug, role], n)
            yield messages
            yield self._counter(
                session,
                "fallback_replies",
                "Bot replies that were the fallback.",
                Message,
                col(Message.role) == "bot",
                col(Message.fallback),
            )
            csat = GaugeMetricFamily("frontdesk_csat_average", "Average CSAT rating (1-5).", labels=["bot"])
            query = select(Bot.slug, func.avg(Feedback.score)).join(Feedback, col(Feedback.bot_id) == col(Bot.id))
            for slug, average in session.exec(query.where(col(Feedback.kind) == "csat").group_by(Bot.slug)).all():
                csat.add_metric([slug], float(average))
            yield csat

    def _counter(self, session: Session, name: str, doc: str, table: type, *where: object) -> CounterMetricFamily:
        """A per-bot count of table rows (messages are joined through their conversation)."""
        family = CounterMetricFamily(f"frontdesk_{name}", doc, labels=["bot"])
        query = _by_bot(select(Bot.slug, func.count()), table).where(*where).group_by(Bot.slug)
        counts = dict.fromkeys(self.slugs, 0) | dict(session.exec(query).all())  # every bot, zeros too
        for slug, n in counts.items():
            family.add_metric([slug], n)
        return family


def _by_bot(query, table: type):  # type: ignore[no-untyped-def]
    """Join a query on Bot to conversations (and messages) so it can be grouped by bot slug."""
    query = query.select_from(Bot).join(Conversation, col(Conversation.bot_id) == col(Bot.id))
    if table is Message:
        query = query.join(Message, col(Message.conversation_id) == col(Conversation.id))
    return query


def check_scraper(request: Request) -> None:
    """Allow the scrape: a matching bearer token when one is set; without one, only outside production."""
    settings = request.app.state.settings
    if settings.metrics_token is None:
        if settings.environment == "production":
            raise FrontdeskError("set FRONTDESK_METRICS_TOKEN to enable /metrics", code="forbidden", status=403)
        return
    expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        raise FrontdeskError("a valid bearer token is required", code="unauthorized", status=401)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition (a fresh registry per scrape; no global state)."""
    check_scraper(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(request.app.state.services.engine))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
