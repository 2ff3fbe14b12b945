"""Knowledge-base tables.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_documents",
        sa.Column("path", sa.String(200), primary_key=True),
        sa.Column("content", sa.JSON(), nullable=False),
    )
    op.create_table(
        "kb_meta",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "kb_procedures",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("popularity", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kb_procedures")
    op.drop_table("kb_meta")
    op.drop_table("kb_documents")
