"""named leases: a lock shared by every process using this metadata database (metadata/leases.py);
the swaps of derived partitions (lifecycle/swap.py) hold one per (table, partition)

Revision ID: 1840_named_leases
Revises: 1900_group_types
"""

import sqlalchemy as sa
from alembic import op

revision = "1840_named_leases"
down_revision = "1900_group_types"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "named_leases",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("named_leases")
