"""console metrics: the daily rollup of closed days, and an index to find recently changed conversations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC = sqlmodel.sql.sqltypes.UTCDateTime
COUNTS = (
    "conversations",
    "handoffs",
    "auto_resolved",
    "csat_sum",
    "csat_ratings",
    "csat_conversations",
    "thumbs_up",
    "thumbs_down",
    "customer_messages",
    "replied_messages",
    "failed_turns",
    "bot_replies",
    "fallback_replies",
)


def upgrade() -> None:
    op.create_table(
        "metricsdaily",
        sa.Column("bot_id", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("intent", sa.String(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("bot_id", "day", "channel", "intent"),
    )
    op.create_table(
        "metricsday",
        sa.Column("bot_id", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "day"),
    )
    op.create_index("ix_conversation_bot_updated", "conversation", ["bot_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversation_bot_updated", table_name="conversation")
    op.drop_table("metricsday")
    op.drop_table("metricsdaily")
