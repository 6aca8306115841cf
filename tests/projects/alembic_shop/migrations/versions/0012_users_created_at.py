"""users.created_at and an index"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("users_created_at_idx", "users", ["created_at"])


def downgrade() -> None:
    op.drop_index("users_created_at_idx", table_name="users")
    op.drop_column("users", "created_at")
