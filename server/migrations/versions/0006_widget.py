"""website widget: a public key per bot, its widget settings and the sealed identity secret

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 07:30:00
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_key", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("widget", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("identity_secret", sa.JSON(), nullable=True))
    # Existing bots get a key of their own (same form as server.tables.new_public_key).
    bot = sa.table("bot", sa.column("id", sa.String()), sa.column("public_key", sa.String()))
    connection = op.get_bind()
    for (bot_id,) in connection.execute(sa.select(bot.c.id)).all():
        connection.execute(bot.update().where(bot.c.id == bot_id).values(public_key=f"pk_{uuid.uuid4().hex}"))
    with op.batch_alter_table("bot", schema=None) as batch_op:
        batch_op.alter_column("public_key", existing_type=sa.String(), nullable=False)
        batch_op.create_index(batch_op.f("ix_bot_public_key"), ["public_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("bot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bot_public_key"))
        batch_op.drop_column("identity_secret")
        batch_op.drop_column("widget")
        batch_op.drop_column("public_key")
