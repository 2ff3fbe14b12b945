"""Appointments (cita previa) and the waiting list.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HOLDS_SLOT = "status <> 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("office", sa.String(100), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("desk", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("reason", sa.String(500)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("request_key", sa.String(100), unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime()),
    )
    op.create_index("uq_appointment_slot", "appointments", ["office", "service", "starts_at", "desk"], unique=True,
                    sqlite_where=sa.text(HOLDS_SLOT), postgresql_where=sa.text(HOLDS_SLOT))
    op.create_index("ix_appointment_citizen", "appointments", ["conversation_id", "starts_at"])
    op.create_index("ix_appointment_day", "appointments", ["starts_at", "status"])
    op.create_table(
        "waiting_list",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("office", sa.String(100), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("earliest", sa.Date(), nullable=False),
        sa.Column("latest", sa.Date()),
        sa.Column("part_of_day", sa.String(10)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("offered_at", sa.DateTime()),
        sa.Column("offered_slot", sa.DateTime()),
    )
    op.create_index("ix_waiting_list_match", "waiting_list", ["office", "service", "status", "created_at"])


def downgrade() -> None:
    op.drop_table("waiting_list")
    op.drop_table("appointments")
