"""a required note"""

import sqlalchemy as sa
from alembic import op

revision = "r3"
down_revision = "r2"


def upgrade() -> None:
    op.add_column("things", sa.Column("note", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_column("things", "note")
