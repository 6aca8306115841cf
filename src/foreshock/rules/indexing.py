"""Writes rules/_index.py (what each rule module's RULE looks at) to standard output:

    python -m foreshock.rules.indexing > src/foreshock/rules/_index.py
"""

from __future__ import annotations

import sys

from foreshock.rules.registry import render_index

if __name__ == "__main__":
    sys.stdout.write(render_index())
