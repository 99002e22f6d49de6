"""sync checkpoints: high-water mark of a first copy made in key order

Revision ID: 0501_sync_high_water
Revises: 0500_sync
"""

import sqlalchemy as sa
from alembic import op

revision = "0501_sync_high_water"
down_revision = "0500_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_checkpoints") as batch:
        batch.add_column(sa.Column("high_water", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_checkpoints") as batch:
        batch.drop_column("high_water")
