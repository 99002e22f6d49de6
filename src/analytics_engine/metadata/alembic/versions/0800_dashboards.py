"""metric registry and dashboards

Revision ID: 0800_dashboards
Revises: 0002_schedule_runs
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0800_dashboards"
down_revision = "0002_schedule_runs"
branch_labels = None
depends_on = None


def _stamp(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        _stamp("deprecated_at", nullable=True),
        sa.Column("deprecation_message", sa.Text, nullable=True),
        sa.Column("replaced_by", sa.String(40), nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
    )
    op.create_index("ix_metrics_tenant_id", "metrics", ["tenant_id"])
    op.create_index("ix_metrics_tenant_name", "metrics", ["tenant_id", "name"])
    op.create_table(
        "metric_versions",
        sa.Column("metric_id", sa.String(40), sa.ForeignKey("metrics.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(40), nullable=True),
        _stamp("created_at"),
    )
    op.create_table(
        "dashboards",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("filters", sa.JSON, nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
    )
    op.create_index("ix_dashboards_tenant_id", "dashboards", ["tenant_id"])
    op.create_table(
        "dashboard_widgets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("dashboard_id", sa.String(40), sa.ForeignKey("dashboards.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("viz", sa.String(32), nullable=False),
        sa.Column("metric_id", sa.String(40), nullable=True),
        sa.Column("metric_version", sa.Integer, nullable=True),
        sa.Column("query", sa.JSON, nullable=True),
        sa.Column("dimensions", sa.JSON, nullable=False),
        sa.Column("layout", sa.JSON, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
    )
    op.create_index("ix_dashboard_widgets_dashboard_id", "dashboard_widgets", ["dashboard_id"])
    op.create_index("ix_dashboard_widgets_tenant_id", "dashboard_widgets", ["tenant_id"])
    op.create_index("ix_dashboard_widgets_metric_id", "dashboard_widgets", ["metric_id"])


def downgrade() -> None:
    op.drop_table("dashboard_widgets")
    op.drop_table("dashboards")
    op.drop_table("metric_versions")
    op.drop_table("metrics")
