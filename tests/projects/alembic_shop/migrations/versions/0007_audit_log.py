"""branch b: audit log table"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("what", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
