"""document progress, conversation attributes and slot-filling flow state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy): SQLite cannot drop and recreate a table other rows point to
    op.add_column("document", sa.Column("progress", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("conversation", sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("conversation", sa.Column("flow", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_column("progress")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("flow")
        batch_op.drop_column("attributes")
