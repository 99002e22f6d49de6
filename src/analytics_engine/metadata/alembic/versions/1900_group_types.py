"""group types: a tenant's declared group types (company, programme, team...; at most 5), each with a
stable index (PostHog's group_type_index), a display name and a description

Revision ID: 1900_group_types
Revises: 1810_annotations_embeds
"""

import sqlalchemy as sa
from alembic import op

revision = "1900_group_types"
down_revision = "1810_annotations_embeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_types",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("group_type", sa.String(40), nullable=False),
        sa.Column("group_type_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "group_type", name="uq_group_types_type"),
        sa.UniqueConstraint("tenant_id", "group_type_index", name="uq_group_types_index"),
    )


def downgrade() -> None:
    op.drop_table("group_types")
