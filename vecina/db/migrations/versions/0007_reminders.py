"""Appointment reminders: one per appointment, with every step of its life.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("appointment_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("failure", sa.String(40)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("delivered_at", sa.DateTime()),
        sa.Column("read_at", sa.DateTime()),
        sa.Column("failed_at", sa.DateTime()),
        sa.Column("answer", sa.String(12)),
        sa.Column("answered_at", sa.DateTime()),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("expired_at", sa.DateTime()),
    )
    op.create_index("ix_reminders_status", "reminders", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("reminders")
