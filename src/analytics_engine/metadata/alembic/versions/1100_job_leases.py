"""job leases: attempts, retry time and the lease (owner, expiry) of analytics_jobs

Revision ID: 1100_job_leases
Revises: 1000_exports
"""

import sqlalchemy as sa
from alembic import op

revision = "1100_job_leases"
down_revision = "1000_exports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"))
        batch.add_column(sa.Column("run_after", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(80), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_state_kind_created", "analytics_jobs", ["state", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_kind_created", table_name="analytics_jobs")
    with op.batch_alter_table("analytics_jobs") as batch:
        for column in ("lease_expires_at", "lease_owner", "run_after", "max_attempts", "attempts"):
            batch.drop_column(column)
