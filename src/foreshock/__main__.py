"""`python -m foreshock` is the `foreshock` command."""

from __future__ import annotations

from foreshock.cli import main

if __name__ == "__main__":
    main()
