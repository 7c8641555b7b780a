"""privacy: per-tenant retention window and whether original customer text is kept

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy): SQLite cannot drop and recreate a table other rows point to
    op.add_column("tenant", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column("tenant", sa.Column("keep_original_text", sa.Boolean(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("keep_original_text")
        batch_op.drop_column("retention_days")
