"""annotations (notes on a date or range, tenant-wide or per dashboard) and embed tokens (signed,
expiring, revocable read-only access to one dashboard or one insight, with locked filters)

Revision ID: 1810_annotations_embeds
Revises: 1700_taxonomy
"""

import sqlalchemy as sa
from alembic import op

revision = "1810_annotations_embeds"
down_revision = "1700_taxonomy"
branch_labels = None
# No foreign key to `dashboards`: that table is on another branch (0800_dashboards), which may be applied
# after this one. Deleting a dashboard deletes its annotations (DashboardService.delete); an embed token
# of a deleted dashboard answers 404.
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dashboard_id", sa.String(40), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("date_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_annotations_tenant_id_date_from", "annotations", ["tenant_id", "date_from"])
    op.create_index("ix_annotations_dashboard_id", "annotations", ["dashboard_id"])
    op.create_table(
        "embed_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dashboard_id", sa.String(40), nullable=True),
        sa.Column("query", sa.JSON(), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("locked", sa.JSON(), nullable=False),
        sa.Column("created_by_key", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_embed_tokens_tenant_id", "embed_tokens", ["tenant_id"])
    op.create_index("ix_embed_tokens_dashboard_id", "embed_tokens", ["dashboard_id"])


def downgrade() -> None:
    op.drop_index("ix_embed_tokens_dashboard_id", table_name="embed_tokens")
    op.drop_index("ix_embed_tokens_tenant_id", table_name="embed_tokens")
    op.drop_table("embed_tokens")
    op.drop_index("ix_annotations_dashboard_id", table_name="annotations")
    op.drop_index("ix_annotations_tenant_id_date_from", table_name="annotations")
    op.drop_table("annotations")
