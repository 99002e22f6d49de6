"""taxonomy: editable descriptions, tags, verified and hidden flags of event names and property keys

Revision ID: 1700_taxonomy
Revises: 1300_materialized_properties
"""

import sqlalchemy as sa
from alembic import op

revision = "1700_taxonomy"
down_revision = "1600_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "taxonomy_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(600), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "kind", "name", name="uq_taxonomy_entries"),
    )
    op.create_index("ix_taxonomy_entries_tenant_id", "taxonomy_entries", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_taxonomy_entries_tenant_id", table_name="taxonomy_entries")
    op.drop_table("taxonomy_entries")
