"""materialized properties: shared typed columns of events and the tenants using them

Revision ID: 1300_materialized_properties
Revises: 1100_job_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "1300_materialized_properties"
down_revision = "1100_job_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "materialized_columns",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("path", sa.String(600), nullable=False),
        sa.Column("value_type", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("path", "value_type", name="uq_materialized_columns_path_type"),
    )
    op.create_table(
        "materialized_properties",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(600), nullable=False),
        sa.Column("value_type", sa.String(16), nullable=False),
        sa.Column("column_name", sa.String(80), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "path", "value_type", name="uq_materialized_properties"),
    )
    op.create_index("ix_materialized_properties_tenant_id", "materialized_properties", ["tenant_id"])
    op.create_index("ix_materialized_properties_column_name", "materialized_properties", ["column_name"])


def downgrade() -> None:
    op.drop_index("ix_materialized_properties_column_name", table_name="materialized_properties")
    op.drop_index("ix_materialized_properties_tenant_id", table_name="materialized_properties")
    op.drop_table("materialized_properties")
    op.drop_table("materialized_columns")
