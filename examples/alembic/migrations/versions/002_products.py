"""products"""

import sqlalchemy as sa
from alembic import op

revision = "002"
down_revision = "001"


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("sku", sa.Text, nullable=False, unique=True),
        sa.Column("price_cents", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("products")
