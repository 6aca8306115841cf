"""foreshock: know what a PostgreSQL migration will do to production before it runs there."""

from __future__ import annotations

from foreshock.errors import ForeshockError

__version__ = "0.1.0"
__all__ = ["ForeshockError", "__version__"]
