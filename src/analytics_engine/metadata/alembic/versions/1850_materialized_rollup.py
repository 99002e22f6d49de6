"""materialized rollup: whether a materialized string column is read by the property rollup's view
(issue 18 bound: a cap on columns and a cardinality gate) and, if not, why

Revision ID: 1850_materialized_rollup
Revises: 1840_named_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "1850_materialized_rollup"
down_revision = "1840_named_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("materialized_columns", sa.Column("rollup", sa.String(24), nullable=True))
    op.add_column("materialized_columns", sa.Column("rollup_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("materialized_columns", "rollup_detail")
    op.drop_column("materialized_columns", "rollup")
