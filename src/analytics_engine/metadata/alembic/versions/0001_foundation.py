"""foundation: tenants, api keys, jobs

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "analytics_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40)),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("rows_total", sa.Integer),
        sa.Column("cursor", sa.Text),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("heartbeat_at", TS),
    )
    op.create_index("ix_analytics_jobs_tenant_id", "analytics_jobs", ["tenant_id"])
    op.create_index("ix_analytics_jobs_kind", "analytics_jobs", ["kind"])
    op.create_index("ix_analytics_jobs_state", "analytics_jobs", ["state"])
    op.create_index("ix_jobs_tenant_created", "analytics_jobs", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("analytics_jobs")
    op.drop_table("api_keys")
    op.drop_table("tenants")
