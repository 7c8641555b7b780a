"""metrics: drop the daily rollup once, computed before channel surveys were left out of the bot-reply figures

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 20:30:00

The rollup is a cache: the days dropped here are recomputed lazily at the next metrics request.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM metricsdaily")
    op.execute("DELETE FROM metricsday")


def downgrade() -> None:
    pass  # nothing to restore: the old figures are recomputed from the raw tables on demand
