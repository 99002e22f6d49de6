"""impact: formula versions, results, tenant vocabularies, tenant peer-group attributes

Revision ID: 0900_impact
Revises: 0002_schedule_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0900_impact"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild: other tables reference tenants with ON DELETE CASCADE).
    op.add_column("tenants", sa.Column("industry", sa.String(100), nullable=True))
    op.add_column("tenants", sa.Column("region", sa.String(100), nullable=True))
    op.add_column("tenants", sa.Column("size_band", sa.String(16), nullable=True))
    op.add_column("tenants", sa.Column("data_sharing_opt_in", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "impact_formulas",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("kind", "version", name="uq_impact_formulas_kind_version"),
    )
    op.create_table(
        "impact_results",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("programme", sa.String(200)),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("formula_version", sa.Integer, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("computed_at", TS, nullable=False),
    )
    op.create_index("ix_impact_results_tenant_kind", "impact_results", ["tenant_id", "kind", "computed_at"])
    op.create_table(
        "impact_vocabularies",
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("mapping", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("impact_vocabularies")
    op.drop_index("ix_impact_results_tenant_kind", table_name="impact_results")
    op.drop_table("impact_results")
    op.drop_table("impact_formulas")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("data_sharing_opt_in")
        batch.drop_column("size_band")
        batch.drop_column("region")
        batch.drop_column("industry")
