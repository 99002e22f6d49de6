"""checkpoints of the NATS streaming consumers

Revision ID: 0400_streaming
Revises: 0002_schedule_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0400_streaming"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_checkpoints",
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("subjects", sa.String(500), nullable=False, server_default=""),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("events_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("rejected_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("batches_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("throughput", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last_batch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_checkpoints")
