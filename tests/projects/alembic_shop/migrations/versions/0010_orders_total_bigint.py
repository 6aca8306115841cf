"""widen orders.total_cents"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "orders",
        "total_cents",
        type_=sa.BigInteger,
        existing_type=sa.Integer,
        existing_nullable=False,
    )


def downgrade() -> None:
    op.alter_column("orders", "total_cents", type_=sa.Integer, existing_type=sa.BigInteger)
