"""`python -m foreshock.apply PATHS --dsn URL`: the apply command on its own (same as `foreshock apply`).

An entry point like `foreshock` itself: it runs the CLI, with the same one-line errors and exit codes (the one
import from apply/ up into the CLI, allowed by name in the layers contract).
"""

from __future__ import annotations

import sys

from foreshock.cli import run

if __name__ == "__main__":
    sys.exit(run(["apply", *sys.argv[1:]]))
