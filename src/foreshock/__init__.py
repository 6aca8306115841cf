"""foreshock: know what a PostgreSQL migration will do to production before it runs there.

    import foreshock
    result = foreshock.check(["migrations/"], foreshock.load_config())
    result.exit_code, result.findings, result.files, result.errors

One function per command: check, trace, snapshot, rehearse, apply (imported on first use, so
`import foreshock` stays light).
"""

from __future__ import annotations

from foreshock.errors import ConfigError, ForeshockError, InputError

__version__ = "0.1.0"
__all__ = [
    "CheckResult",
    "ConfigError",
    "ForeshockError",
    "InputError",
    "Settings",
    "__version__",
    "apply",
    "check",
    "load_config",
    "rehearse",
    "snapshot",
    "trace",
]

# Not typing.TYPE_CHECKING: `import foreshock` comes first in every run, and importing typing is a few ms
# a run answered from the cache (foreshock.cache.fast) does not otherwise spend.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from foreshock.api import check
    from foreshock.apply.runner import apply
    from foreshock.config import Settings, load_config
    from foreshock.core.model import CheckResult
    from foreshock.rehearse.api import rehearse
    from foreshock.scale.snapshot import snapshot
    from foreshock.trace.api import trace

_LAZY = {
    "check": "foreshock.api",
    "Settings": "foreshock.config",
    "load_config": "foreshock.config",
    "CheckResult": "foreshock.core.model",
    # One public function per command (DESIGN.md: library first, thin CLI).
    "trace": "foreshock.trace.api",
    "snapshot": "foreshock.scale.snapshot",
    "rehearse": "foreshock.rehearse.api",
    "apply": "foreshock.apply.runner",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import foreshock` (and the CLI's start-up) does not load pglast until it is needed.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'foreshock' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
