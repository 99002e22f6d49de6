"""query budgets: per-tenant overrides and daily usage

Revision ID: 0600_budgets
Revises: 0002_schedule_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0600_budgets"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_budgets",
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("max_execution_time", sa.Float, nullable=True),
        sa.Column("max_rows_to_read", sa.BigInteger, nullable=True),
        sa.Column("max_bytes_to_read", sa.BigInteger, nullable=True),
        sa.Column("max_concurrent_queries", sa.Integer, nullable=True),
        sa.Column("query_seconds_per_day", sa.Float, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tenant_query_usage",
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("queries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("query_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("read_rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("read_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_query_usage")
    op.drop_table("tenant_budgets")
