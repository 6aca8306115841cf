"""The unit every source produces (defined in the pure core so analysis can take it)."""

from foreshock.core.model import MigrationUnit

__all__ = ["MigrationUnit"]
