"""drop python-telegram-bot's persistence tables; index merged-away people

Conversation state lives in chat_state (bot/flows.py) and the language on the person or in
chat_state, so PTB's user, chat and conversation tables have no reader left.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MERGED = sa.text("merged_into_id IS NOT NULL")


def upgrade() -> None:
    op.drop_table("ptb_conversation")
    op.drop_table("ptb_chat_data")
    op.drop_table("ptb_user_data")
    op.create_index(
        "ix_person_merged", "person", ["id"], postgresql_where=MERGED, sqlite_where=MERGED
    )


def downgrade() -> None:
    op.drop_index("ix_person_merged", table_name="person")
    op.create_table(
        "ptb_user_data",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "ptb_chat_data",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_table(
        "ptb_conversation",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", "key"),
    )
