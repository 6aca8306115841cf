"""Progress of a long fleet run on stderr: targets done / running / failed, elapsed, estimated remaining.

On a terminal one status line is redrawn in place (rich) and each finished target is printed above it;
elsewhere (CI logs, pipes) each finished target is one line carrying the same counters. Only the thread that
schedules the rollout calls these methods.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from foreshock.core.quantities import format_duration

if TYPE_CHECKING:
    from foreshock.fleet.report import TargetResult

_BAD = ("failed", "refused", "busy", "unreachable")


class FleetProgress:
    def __init__(
        self, total: int, *, live: bool | None = None, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = (self.stream.isatty() if live is None else live) and enabled
        self.done_count = 0
        self.bad = 0
        self.not_started = 0
        self.running: dict[str, float] = {}
        self.t0 = time.monotonic()
        self._live: Any = None

    def start(self) -> None:
        self.t0 = time.monotonic()
        if self.live:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._text = Text
            self._live = Live(
                Text(self.status()), console=Console(file=self.stream), refresh_per_second=4, transient=True
            )
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _print(self, line: str) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def eta(self) -> float | None:
        """Remaining targets at the rate targets have finished so far (parallelism included)."""
        finished = self.done_count
        left = self.total - self.done_count - self.not_started
        elapsed = time.monotonic() - self.t0
        if finished == 0 or left <= 0:
            return None if left > 0 else 0.0
        return left * elapsed / finished

    def status(self) -> str:
        eta = self.eta()
        left = f", ~{format_duration(eta)} left" if eta is not None and eta > 0 else ""
        running = ", ".join(sorted(self.running)[:4]) + (" ..." if len(self.running) > 4 else "")
        return (
            f"fleet: {self.done_count}/{self.total} done, {len(self.running)} running"
            + (f" ({running})" if running else "")
            + f", {self.bad} failed/unreachable, elapsed {format_duration(time.monotonic() - self.t0)}{left}"
        )

    def started(self, name: str) -> None:
        self.running[name] = time.monotonic()
        self.tick()

    def done(self, r: TargetResult) -> None:
        self.running.pop(r.name, None)
        if r.outcome in ("skipped", "pending"):
            self.not_started += 1
            return
        self.done_count += 1
        self.bad += r.outcome in _BAD
        took = f" in {format_duration(r.seconds)}" if r.seconds is not None else ""
        why = f" -- {r.reason}" if r.reason and r.outcome in _BAD else ""
        line = f"[{self.done_count}/{self.total}] {r.name}: {r.outcome}{took}{why}"
        self._print(line if self._live is not None else f"{line}  ({self.status()})")
        self.tick()

    def note(self, message: str) -> None:
        self._print(f"fleet: {message}")

    def tick(self) -> None:
        if self._live is not None:
            self._live.update(self._text(self.status()))
