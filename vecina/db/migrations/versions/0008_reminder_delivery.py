"""Reminders know the message that carried them (its receipts move them forward); a waiting-list
offer is sent once.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminders") as table:
        table.add_column(sa.Column("outbound_id", sa.Integer()))
        table.create_index("ix_reminders_outbound", ["outbound_id"])
    with op.batch_alter_table("waiting_list") as table:
        table.add_column(sa.Column("notified_at", sa.DateTime()))
        table.add_column(sa.Column("notify_failure", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("waiting_list") as table:
        table.drop_column("notify_failure")
        table.drop_column("notified_at")
    with op.batch_alter_table("reminders") as table:
        table.drop_index("ix_reminders_outbound")
        table.drop_column("outbound_id")
