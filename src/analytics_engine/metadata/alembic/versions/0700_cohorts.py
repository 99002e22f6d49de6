"""cohorts: definitions and membership versions

Revision ID: 0700_cohorts
Revises: 0002_schedule_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0700_cohorts"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", sa.JSON),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer),
        sa.Column("last_evaluated_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_cohorts_tenant_id", "cohorts", ["tenant_id"])
    op.create_index("ix_cohorts_tenant_name", "cohorts", ["tenant_id", "name"], unique=True)
    op.create_table(
        "cohort_versions",
        sa.Column("cohort_id", sa.String(40), sa.ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer),
        sa.Column("joined", sa.Integer),
        sa.Column("left", sa.Integer),
        sa.Column("trigger", sa.String(32)),
        sa.Column("job_id", sa.String(40)),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
    )


def downgrade() -> None:
    op.drop_table("cohort_versions")
    op.drop_index("ix_cohorts_tenant_name", table_name="cohorts")
    op.drop_index("ix_cohorts_tenant_id", table_name="cohorts")
    op.drop_table("cohorts")
