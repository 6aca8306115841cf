"""one partial index per kind found in the data: the SQL depends on what the database holds"""

import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"


def upgrade() -> None:
    bind = op.get_bind()
    query = sa.text("SELECT DISTINCT kind FROM things WHERE id > :floor")
    kinds = bind.execute(query, {"floor": 0}).fetchall()
    for (kind,) in sorted(kinds):
        op.execute(f"CREATE INDEX things_{kind}_idx ON things (id) WHERE kind = '{kind}'")


def downgrade() -> None:
    pass
