"""schedule runs

Revision ID: 0002_schedule_runs
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_schedule_runs"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
