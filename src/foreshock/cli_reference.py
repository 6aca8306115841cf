"""`python -m foreshock.cli_reference > docs/cli.md` regenerates the command-line reference."""

from __future__ import annotations

import sys

from foreshock.cli import reference_markdown

if __name__ == "__main__":
    sys.stdout.write(reference_markdown())
