"""Customer feedback on replies and conversations; also mounts the Prometheus /metrics route."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from server.api.deps import SessionDep
from server.metrics import feedback as feedback_store
from server.metrics.prometheus import router as prometheus_router
from server.tables import Feedback

router = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["feedback"])


class FeedbackIn(BaseModel):
    """POST /api/v1/conversations/{id}/feedback."""

    kind: Literal["thumb", "csat"]
    score: int
    message_id: str | None = Field(default=None, min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class FeedbackPublic(BaseModel):
    """Stored feedback as clients see it."""

    id: str
    conversation_id: str
    message_id: str | None
    kind: str
    score: int
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, f: Feedback) -> FeedbackPublic:
        """From a table row."""
        return cls(
            id=f.id, conversation_id=f.conversation_id, message_id=f.message_id, kind=f.kind,
            score=f.score, comment=f.comment, created_at=f.created_at,
        )


@api.post("/conversations/{conversation_id}/feedback", status_code=201)
def post_feedback(conversation_id: str, body: FeedbackIn, session: SessionDep) -> FeedbackPublic:
    """Rate a bot reply (thumb ±1) or the conversation (CSAT 1-5); a repeat replaces the earlier one."""
    stored = feedback_store.record(session, conversation_id, body.kind, body.score, body.message_id, body.comment)
    return FeedbackPublic.of(stored)


router.include_router(api)
router.include_router(prometheus_router)
