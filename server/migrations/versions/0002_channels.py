"""channels: per-bot messaging-platform configs and outbound deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:08:33.077661
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channelconfig",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("bot_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bot.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bot_id", "name", name="uq_channelconfig_name"),
    )
    with op.batch_alter_table("channelconfig", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channelconfig_bot_id"), ["bot_id"], unique=False)

    op.create_table(
        "channeldelivery",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channelconfig.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", name="uq_channeldelivery_message"),
    )
    with op.batch_alter_table("channeldelivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channeldelivery_channel_id"), ["channel_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("channeldelivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channeldelivery_channel_id"))

    op.drop_table("channeldelivery")
    with op.batch_alter_table("channelconfig", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channelconfig_bot_id"))

    op.drop_table("channelconfig")
