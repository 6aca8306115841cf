"""The runaway migration: 200 ms on a laptop, hours on an 80-million-row production table.

add_column takes ACCESS EXCLUSIVE on orders, and the revision's transaction keeps holding it through the
full-table UPDATE and the SET NOT NULL scan: every read and write of orders waits until COMMIT.
"""

import sqlalchemy as sa
from alembic import op

revision = "003"
down_revision = "002"


def upgrade() -> None:
    op.add_column("orders", sa.Column("status", sa.Text(), nullable=True))
    op.execute("UPDATE orders SET status = 'paid'")
    op.alter_column("orders", "status", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    op.drop_column("orders", "status")
