"""the SQLite history: never read for PostgreSQL"""

import sqlalchemy as sa
from alembic import op

revision = "s1"
down_revision = None


def upgrade() -> None:
    op.create_table("sqlite_only", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("sqlite_only")
