"""lifecycle and privacy: erasure requests with their receipts, and the cold tier's file manifest

Revision ID: 1600_lifecycle
Revises: 1300_materialized_properties
"""

import sqlalchemy as sa
from alembic import op

revision = "1600_lifecycle"
down_revision = "1500_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("suppress", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_privacy_erasures_tenant_id", "privacy_erasures", ["tenant_id"])
    op.create_table(
        "privacy_suppressions",
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject_hash", sa.String(64), primary_key=True),
        sa.Column("erasure_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "lifecycle_cold_files",
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(40), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewritten_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "lifecycle_months",
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_months")
    op.drop_table("lifecycle_cold_files")
    op.drop_table("privacy_suppressions")
    op.drop_index("ix_privacy_erasures_tenant_id", table_name="privacy_erasures")
    op.drop_table("privacy_erasures")
