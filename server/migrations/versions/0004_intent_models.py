"""versioned intent models; intent examples remember where they came from

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intentmodel",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("bot_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("oos_examples", sa.Integer(), nullable=False),
        sa.Column("intents", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("train_seconds", sa.Float(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("promoted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["bot_id"], ["bot.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bot_id", "version", name="uq_intentmodel_version"),
    )
    with op.batch_alter_table("intentmodel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intentmodel_bot_id"), ["bot_id"], unique=False)
    with op.batch_alter_table("intentexample", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "created_at",
                sqlmodel.sql.sqltypes.UTCDateTime(),
                nullable=False,
                server_default=sa.text("CURRENT_TIMESTAMP"),
            )
        )
        batch_op.create_index(batch_op.f("ix_intentexample_message_id"), ["message_id"], unique=False)
    # 'import' was the old name of examples read from a CSV file.
    op.execute("UPDATE intentexample SET source = 'csv' WHERE source = 'import'")


def downgrade() -> None:
    op.execute("UPDATE intentexample SET source = 'import' WHERE source = 'csv'")
    with op.batch_alter_table("intentexample", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intentexample_message_id"))
        batch_op.drop_column("created_at")
        batch_op.drop_column("message_id")
    with op.batch_alter_table("intentmodel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intentmodel_bot_id"))
    op.drop_table("intentmodel")
