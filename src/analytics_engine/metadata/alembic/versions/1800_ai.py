"""ai: answers of /v1/ai/ask with their evidence, and feedback on them

Revision ID: 1800_ai
Revises: 1700_taxonomy
"""

import sqlalchemy as sa
from alembic import op

revision = "1800_ai"
down_revision = "1700_taxonomy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_answers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_version", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("useful", sa.Boolean(), nullable=True),
        sa.Column("feedback_comment", sa.Text(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ai_answers_tenant_created", "ai_answers", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ai_answers_tenant_created", table_name="ai_answers")
    op.drop_table("ai_answers")
