"""add things.note"""

import sqlalchemy as sa
from alembic import op

revision = "a3"
down_revision = "a2"


def upgrade() -> None:
    op.add_column("things", sa.Column("note", sa.Text))
