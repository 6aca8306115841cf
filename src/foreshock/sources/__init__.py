"""Where migrations come from: SQL files and directories, Alembic and Django projects."""
