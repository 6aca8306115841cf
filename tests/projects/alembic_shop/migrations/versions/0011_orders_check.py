"""check constraint, added NOT VALID then validated"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total_cents >= 0) NOT VALID")
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive")


def downgrade() -> None:
    op.drop_constraint("orders_total_positive", "orders", type_="check")
