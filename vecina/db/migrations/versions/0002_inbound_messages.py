"""Durable inbound messages of the webhook channels.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("available_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("error", sa.String(200)),
        sa.UniqueConstraint("channel", "provider_id", name="uq_inbound_provider_id"),
    )
    op.create_index("ix_inbound_conversation", "inbound_messages", ["conversation_id", "id"])
    op.create_index("ix_inbound_status_available", "inbound_messages", ["status", "available_at"])


def downgrade() -> None:
    op.drop_table("inbound_messages")
