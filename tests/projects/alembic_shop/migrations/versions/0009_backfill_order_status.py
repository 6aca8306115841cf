"""raw SQL backfill"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE orders SET status = 'paid' WHERE total_cents > 0")


def downgrade() -> None:
    pass
