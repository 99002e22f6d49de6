"""sync sources and checkpoints

Revision ID: 0500_sync
Revises: 0002_schedule_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0500_sync"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_sources",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sync_checkpoints",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("rows_copied", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("backfill_done", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("in_doubt", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("last_job_id", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_checkpoints")
    op.drop_table("sync_sources")
