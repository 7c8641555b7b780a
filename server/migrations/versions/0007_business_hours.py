"""business hours, sealed HTTP-action secrets per bot, and agent presence

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 08:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy): SQLite cannot drop and recreate a table other rows point to
    op.add_column("bot", sa.Column("hours", sa.JSON(), nullable=True))
    op.add_column("bot", sa.Column("action_signing_secret", sa.JSON(), nullable=True))
    op.add_column("bot", sa.Column("action_secrets", sa.JSON(), nullable=True))
    op.create_table(
        "agentpresence",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("last_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
    )
    with op.batch_alter_table("agentpresence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agentpresence_last_seen"), ["last_seen"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agentpresence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agentpresence_last_seen"))
    op.drop_table("agentpresence")
    with op.batch_alter_table("bot", schema=None) as batch_op:
        batch_op.drop_column("action_secrets")
        batch_op.drop_column("action_signing_secret")
        batch_op.drop_column("hours")
