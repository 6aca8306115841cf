"""branch a: orders.status with a default"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("status", sa.Text, nullable=False, server_default="new"),
    )


def downgrade() -> None:
    op.drop_column("orders", "status")
