"""Channel contacts (24-hour window, reply route) and outbound messages with delivery receipts.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_contacts",
        sa.Column("conversation_id", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("route", sa.String(100)),
        sa.Column("language", sa.String(2)),
        sa.Column("last_inbound_at", sa.DateTime()),
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("response", sa.String(100)),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("provider_id", sa.String(200)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(40)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("delivered_at", sa.DateTime()),
        sa.Column("read_at", sa.DateTime()),
        sa.Column("failed_at", sa.DateTime()),
        sa.UniqueConstraint("channel", "provider_id", name="uq_outbound_provider_id"),
    )
    op.create_index("ix_outbound_conversation", "outbound_messages", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_table("outbound_messages")
    op.drop_table("channel_contacts")
