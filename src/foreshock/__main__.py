"""`python -m foreshock`, and the `foreshock` command.

A `check` whose inputs did not change since a run kept its output is answered from the history cache
before the command line, pglast and the rules are imported (foreshock.cache.fast); every other run is the
CLI's (foreshock.cli), with the records' generated methods read from their kept code instead of compiled
(foreshock.cache.record_code).
"""

from __future__ import annotations

import gc
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: exits 0, 1 or 2, as foreshock.cli.main."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = args[:1] == ["check"]
    if check:
        # A check process pauses the cyclic collector from its start, imports included (see the check
        # command, which turns it back on while Django and Alembic projects are rendered).
        gc.disable()
    try:
        _main(args)
    finally:
        if check and argv is None:
            # The process ends here. Python's shutdown would walk every object still alive (all of them in
            # the youngest generation: the collector was paused) in two full collections, a tenth of a
            # one-statement check; frozen objects are left to the operating system. Only the collector's
            # shutdown passes are skipped: exit handlers run and output is flushed as always.
            gc.freeze()


def _main(args: list[str]) -> None:
    from foreshock.cache.fast import emit, lookup

    try:
        kept = lookup(args)
    except OSError:
        kept = None  # e.g. the working directory has gone: the normal run says what is wrong
    except Exception as e:  # as loud as the CLI's own last line of defence
        from foreshock.cli import internal_error

        sys.exit(internal_error(e))
    if kept is not None:
        out, err, code = kept
        try:
            sys.stderr.write(err)
            sys.stderr.flush()
            emit(sys.stdout, out)
            sys.stdout.flush()
        except BrokenPipeError:
            code = 2  # `foreshock check ... | head`: the reader went away, as the CLI says it
        sys.exit(code)
    # Before the first record class is made (the CLI's imports make most of them); written back at the end
    # only if something was compiled.
    from foreshock.cache import record_code

    record_code.install()
    try:
        from foreshock.cli import main as cli_main

        cli_main(args)
    finally:
        record_code.save()


if __name__ == "__main__":
    main()
