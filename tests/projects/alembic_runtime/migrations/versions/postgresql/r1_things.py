"""things, with a few kinds"""

import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None


def upgrade() -> None:
    op.create_table("things", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("kind", sa.Text))
    op.execute("INSERT INTO things (id, kind) VALUES (1, 'red'), (2, 'blue')")


def downgrade() -> None:
    op.drop_table("things")
