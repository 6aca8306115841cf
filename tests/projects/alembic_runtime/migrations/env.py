"""Revisions per database dialect: env.py points Alembic at them at run time (as Prefect does)."""

import os

from alembic import context

config = context.config
dialect = os.environ.get("RUNTIME_SAMPLE_DIALECT", "postgresql")
context.script.version_locations = [os.path.join(os.path.dirname(__file__), "versions", dialect)]


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:  # pragma: no cover - foreshock never runs a project's env.py online
    raise SystemExit("this sample project connects to nothing")
