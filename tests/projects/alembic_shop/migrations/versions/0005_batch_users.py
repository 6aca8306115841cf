"""batch: users.email NOT NULL and a unique email"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("email", existing_type=sa.Text, nullable=False)
        batch.create_unique_constraint("users_email_key", ["email"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("users_email_key", type_="unique")
        batch.alter_column("email", existing_type=sa.Text, nullable=True)
