"""How a line-per-finding report's per-file shares (foreshock.report.parts) are kept: standard library only,
so that the entry point's fast path (foreshock.cache.fast) prints a kept report from them.

A history's report is megabytes, and a run with one new file changes a few lines of it. The lines are
kept as blobs that runs add to instead of rewriting: an index entry (PARTS) under the key of the history
it covers holds each file's share without its lines, and the blobs (LINES) whose concatenation is the
lines, in order. A run that starts from the shares of an index writes the lines of its new files as one
more blob and an index naming the old blobs and it; past MAX_BLOBS, one blob of all of them.

Blobs are UTF-8: text that does not encode strictly (an undecodable file name's escapes) is kept with
surrogatepass and flagged, and comes back as text (as foreshock.cache.fast.encoded hands it on).
"""

from __future__ import annotations

import marshal

from foreshock.cache import Store
from foreshock.cache.ident import digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["LINES", "MAX_BLOBS", "PARTS", "Kept", "join", "read", "write"]

PARTS, LINES = "parts", "lines"
# Blobs an index may name before a run writes them as one (reading a few more files costs less than
# writing a history's lines again).
MAX_BLOBS = 8

# (the blobs: (key, strict UTF-8) in order, each file's share without its lines, the blobs' contents)
Kept = tuple[tuple[tuple[str, bool], ...], tuple[tuple[object, ...], ...], list[str | bytes]]


def read(store: Store, key: str) -> Kept | None:
    """The index under `key` and its blobs' contents; None when any of them is missing or not sound."""
    data = store.read(PARTS, key)
    if data is None:
        return None
    try:
        index = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(index, tuple) and len(index) == 2):
        return None
    blobs, shares = index
    if not (
        isinstance(blobs, tuple)
        and isinstance(shares, tuple)
        and all(
            isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str) and isinstance(b[1], bool)
            for b in blobs
        )
        and all(isinstance(s, tuple) for s in shares)
    ):
        return None
    chunks: list[str | bytes] = []
    for blob, strict in blobs:
        chunk = store.read(LINES, blob)
        if chunk is None:
            return None
        chunks.append(chunk if strict else chunk.decode("utf-8", "surrogatepass"))
    return blobs, shares, chunks


def write(
    store: Store,
    key: str,
    kept: Kept | None,
    shares: Sequence[tuple[object, ...]],
    lines: str | bytes,
) -> None:
    """The index under `key`: the shares of `kept` (read from another index) followed by `shares`, whose
    lines are `lines` (as foreshock.cache.fast.encoded gives them)."""
    blobs, old, chunks = kept if kept is not None else ((), (), [])
    piece, first = lines, len(old)
    if len(blobs) >= MAX_BLOBS:
        blobs, piece, first = (), join([*chunks, lines]), 0
    # Named by the history and the first share it holds: two runs over one history that started from
    # different shares (a third run wrote some in between) write different blobs, never one another's.
    blob = digest(key, LINES, str(first))
    strict = isinstance(piece, bytes)
    store.write(LINES, blob, piece if isinstance(piece, bytes) else piece.encode("utf-8", "surrogatepass"))
    index: Any = ((*blobs, (blob, strict)), (*old, *shares))
    store.write(PARTS, key, marshal.dumps(index))


def join(pieces: Sequence[str | bytes]) -> str | bytes:
    """Pieces of an output, each as foreshock.cache.fast.encoded gives it, as it gives the whole."""
    if all(isinstance(p, bytes) for p in pieces):
        return b"".join(pieces)  # type: ignore[arg-type]
    return "".join(p.decode("utf-8", "surrogatepass") if isinstance(p, bytes) else p for p in pieces)
