"""`python -m foreshock`, and the `foreshock` command.

A `check` whose inputs did not change since a run kept its output is answered from the history cache
before the command line, pglast and the rules are imported (foreshock.cache.fast); every other run is the
CLI's (foreshock.cli).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: exits 0, 1 or 2, as foreshock.cli.main."""
    args = list(sys.argv[1:] if argv is None else argv)
    from foreshock.cache.fast import replay

    try:
        code = replay(args)
    except BrokenPipeError:
        # `foreshock check ... | head`: the reader went away, as the CLI says it.
        sys.exit(2)
    if code is not None:
        sys.exit(code)
    from foreshock.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
