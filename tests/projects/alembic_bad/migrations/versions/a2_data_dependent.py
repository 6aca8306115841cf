"""reads data to decide what to do: impossible offline"""

import sqlalchemy as sa
from alembic import op

revision = "a2"
down_revision = "a1"


def upgrade() -> None:
    bind = op.get_bind()
    kinds = bind.execute(sa.text("SELECT DISTINCT kind FROM things")).fetchall()
    for (kind,) in kinds:
        op.execute(f"CREATE INDEX things_{kind}_idx ON things (id) WHERE kind = '{kind}'")
