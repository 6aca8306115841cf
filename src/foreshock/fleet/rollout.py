"""`apply --fleet`: one migration across many targets, in order of predicted risk, with a halt policy.

Order: canary targets first (the lowest predicted risk of the first stage), then each stage in turn (a stage
starts when the one before it has finished), lowest predicted risk first within a stage; targets whose risk
could not be predicted come last in their stage. At most `parallel` targets run at once.

Each target runs through `foreshock.apply.apply` -- the same gate at the target's own size, ledger, lock
timeouts, retries, pre-flight, backfills and runner lock as a single `foreshock apply`; nothing here knows how
a migration runs. Whatever
apply decides for one target (applied, failed, refused...) is that target's outcome. The ledgers are the
fleet's memory: a second run finds applied targets up to date, resumes failed ones and runs pending ones, and
the runner lock keeps two fleet runs off one target (the second reports it "busy").

Halting: a failed target counts against `--halt-on` (first | percent:P | never); unreachable and busy targets
do not -- they say nothing about the migration -- and are simply reported for the next run. A canary that does
not apply halts the rollout whatever the policy. On halt, running targets finish and the rest are "skipped".

Ctrl-C (SIGINT): the first stops starting targets (running ones finish; the rest are "pending"); the second
cancels the running ones (their statement is cancelled and rolled back, their ledger says failed, the next run
resumes them); a third leaves at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

from foreshock.apply.cancel import Cancel
from foreshock.apply.options import ApplyOptions
from foreshock.apply.results import ApplyResult
from foreshock.config import Settings
from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.errors import ApplyBusy, ConfigError, ConnectError, ForeshockError
from foreshock.fleet.predict import Prediction
from foreshock.fleet.progress import FleetProgress
from foreshock.fleet.report import FleetReport, TargetResult, Wave
from foreshock.fleet.targets import Target
from foreshock.pg.connect import redact_dsn
from foreshock.scale.stats import Stats

# Outcomes (foreshock.fleet.report.OUTCOMES) that count as done: a re-run has nothing left to do there.
DONE = ("applied", "already-applied")


@dataclass(frozen=True)
class HaltPolicy:
    """When failures stop a rollout: at the first, past a percentage of all targets, or never."""

    mode: str = "first"
    percent: float = 0.0

    @staticmethod
    def parse(text: str) -> HaltPolicy:
        value = text.strip().lower()
        if value in ("first", "never"):
            return HaltPolicy(value)
        if value.startswith("percent:"):
            try:
                pct = float(value.split(":", 1)[1].rstrip("%"))
            except ValueError:
                pct = -1.0
            if 0 <= pct < 100:
                return HaltPolicy("percent", pct)
        raise ConfigError(
            f"--halt-on: {text!r} is not a policy (use first, never or percent:P with 0 <= P < 100)"
        )

    def halts(self, failed: int, total: int) -> bool:
        if self.mode == "first":
            return failed >= 1
        if self.mode == "percent":
            return failed * 100.0 > self.percent * total
        return False

    def __str__(self) -> str:
        return f"percent:{self.percent:g}" if self.mode == "percent" else self.mode


@dataclass(frozen=True)
class FleetOptions:
    parallel: int = 4
    canary: int = 1
    halt_on: HaltPolicy = HaltPolicy()

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ConfigError("--parallel must be at least 1")
        if self.canary < 0:
            raise ConfigError("--canary must be 0 or more")


def plan_waves(
    targets: Sequence[Target],
    predictions: Mapping[str, Prediction],
    canary: int,
    unreachable: Sequence[str] = (),
) -> list[Wave]:
    """Canary first, then stages in order; lowest predicted risk first within each."""

    def key(t: Target) -> tuple[Any, ...]:
        p = predictions.get(t.name)
        return (t.stage_rank, p.risk_key() if p is not None else (1, 0.0, 0.0), t.name)

    ordered = sorted(targets, key=key)
    skip = set(unreachable)
    canaries = [t.name for t in ordered if t.name not in skip][:canary]
    waves = [Wave("canary", tuple(canaries), canary=True)] if canaries else []
    staged = any(t.stage is not None for t in targets)
    stages: dict[int, list[Target]] = {}
    for t in ordered:
        if t.name not in canaries:
            stages.setdefault(t.stage_rank, []).append(t)
    for _, members in sorted(stages.items()):
        stage = members[0].stage
        label = f"stage {stage}" if stage is not None else ("unstaged" if staged else "rollout")
        waves.append(Wave(label, tuple(t.name for t in members)))
    return waves


def target_outcome(result: ApplyResult) -> tuple[str, str]:
    """A target's outcome from its apply result, as apply decided it (refused, failed, applied, ...)."""
    units = result.units
    refused = [u for u in units if u.outcome == "refused"]
    if refused:
        return "refused", refused[0].message or f"{refused[0].name}: refused"
    failed = [u for u in units if u.outcome == "failed"]
    if failed:
        return "failed", failed[0].message or f"{failed[0].name}: failed"
    if result.dry_run:
        return ("planned" if any(u.outcome == "planned" for u in units) else "already-applied"), ""
    if any(u.outcome == "applied" for u in units):
        return "applied", ""
    return "already-applied", ""


class Rollout:
    """Runs one fleet apply. Only the thread that calls run() touches the schedule and the progress display;
    worker threads each run one target's apply and return its result."""

    def __init__(
        self,
        units: Sequence[MigrationUnit],
        targets: Sequence[Target],
        waves: Sequence[Wave],
        options: ApplyOptions,
        fleet: FleetOptions,
        *,
        predictions: Mapping[str, Prediction] | None = None,
        sizes: Mapping[str, Stats] | None = None,
        settings: Settings | AnalysisSettings | None = None,
        unreachable: Mapping[str, str] | None = None,
        progress: FleetProgress | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.units = list(units)
        self.targets = {t.name: t for t in targets}
        self.waves = list(waves)
        # Per target: no progress bars (several targets share one terminal), and a name that says "fleet".
        self.options = replace(options, progress=False, application_name="foreshock fleet apply")
        self.fleet = fleet
        self.predictions = dict(predictions or {})
        # Each target's sizes as its sessions see them (read once for the predictions): a dry run's
        # estimates then come from the same snapshot instead of a second read of every target.
        self.sizes = dict(sizes or {})
        self.settings = settings
        self.unreachable = dict(unreachable or {})
        self.progress = progress or FleetProgress(len(self.targets), live=False, enabled=False)
        self.log = log
        self.results: dict[str, TargetResult] = {}
        self.cancels: dict[str, Cancel] = {}
        self.halted = ""
        self.stopping = ""
        self.interrupts = 0
        self.cancel_requested = False
        self.crash: BaseException | None = None
        self.failed = 0
        self.t0 = 0.0

    # -- Ctrl-C ------------------------------------------------------------------------------------------
    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self.stopping = "interrupted (Ctrl-C): not started"
            self.progress.note(
                "Ctrl-C: starting no more targets; running ones finish (Ctrl-C again cancels them)"
            )
        elif self.interrupts == 2:
            self.cancel_requested = True
            self.progress.note("Ctrl-C again: cancelling running targets (rolled back; the next run resumes)")
        else:
            for c in self.cancels.values():
                c.cancel()
            raise KeyboardInterrupt

    # -- one target --------------------------------------------------------------------------------------
    def _one(self, target: Target, cancel: Cancel) -> TargetResult:
        from foreshock.apply.runner import apply

        start = time.monotonic()

        def log(message: str) -> None:
            if self.log is not None:
                self.log(f"{target.name}: {message}")

        outcome, reason, result = "failed", "", None
        try:
            result = apply(
                self.units,
                target.dsn,
                self.options,
                log=log,
                sizes=self.sizes.get(target.name),
                settings=self.settings,
                schema=target.schema,
                cancel=cancel,
            )
            outcome, reason = target_outcome(result)
        except ConnectError as err:
            outcome, reason = "unreachable", str(err)
        except ApplyBusy as err:
            outcome, reason = "busy", str(err)
        except ForeshockError as err:
            outcome, reason = "failed", str(err)
        return TargetResult(
            target.name,
            outcome,
            redact_dsn(reason),
            started=start - self.t0,
            seconds=time.monotonic() - start,
            result=result,
        )

    # -- the schedule ------------------------------------------------------------------------------------
    def run(self) -> FleetReport:
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        self.t0 = time.monotonic()
        self.progress.start()
        try:
            self._run_waves()
        finally:
            self.progress.stop()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return self._report()

    def _record(self, r: TargetResult, wave: Wave) -> None:
        r = replace(
            r,
            wave=wave.label,
            canary=wave.canary,
            prediction=self.predictions.get(r.name),
            target=self.targets.get(r.name),
        )
        self.results[r.name] = r
        if r.outcome == "failed" and not self.options.dry_run:
            self.failed += 1
            # Once stopping (Ctrl-C), failures are cancelled targets: they say nothing about the migration.
            if (
                not self.halted
                and not self.stopping
                and self.fleet.halt_on.halts(self.failed, len(self.targets))
            ):
                self.halted = f"target {r.name} failed (--halt-on {self.fleet.halt_on})"
        self.progress.done(r)

    def _run_waves(self) -> None:
        pool = ThreadPoolExecutor(max_workers=self.fleet.parallel, thread_name_prefix="foreshock-fleet")
        try:
            for wave in self.waves:
                self._run_wave(pool, wave)
                if wave.canary and not self.halted and not self.stopping and not self.options.dry_run:
                    bad = [self.results[n] for n in wave.targets if self.results[n].outcome not in DONE]
                    if bad:
                        self.halted = f"canary {bad[0].name} {bad[0].outcome}"
        finally:
            pool.shutdown(wait=True)
        if self.crash is not None:
            self.stopping = self.stopping or "not started: an internal error stopped the rollout"

    def _stop_reason(self) -> tuple[str, str] | None:
        if self.stopping:
            return "pending", self.stopping
        if self.halted:
            return "skipped", f"halted: {self.halted}"
        return None

    def _run_wave(self, pool: ThreadPoolExecutor, wave: Wave) -> None:
        queue = deque(wave.targets)
        running: dict[Future[TargetResult], str] = {}
        while queue or running:
            while queue and len(running) < self.fleet.parallel and self._stop_reason() is None:
                name = queue.popleft()
                if name in self.unreachable:
                    # Its snapshot could not connect moments ago; trying again would only wait for a timeout.
                    self._record(TargetResult(name, "unreachable", self.unreachable[name]), wave)
                    continue
                cancel = self.cancels[name] = Cancel()
                running[pool.submit(self._one, self.targets[name], cancel)] = name
                self.progress.started(name)
            if not running:
                break
            done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
            if self.cancel_requested:
                for name in running.values():
                    self.cancels[name].cancel()
                self.cancel_requested = False
            for future in done:
                name = running.pop(future)
                try:
                    r = future.result()
                except Exception as err:  # a bug in one target's run: loud, and no further targets start
                    self.crash = self.crash or err
                    self.stopping = "not started: an internal error stopped the rollout"
                    r = TargetResult(name, "failed", f"internal error: {type(err).__name__}: {err}")
                self._record(r, wave)
            self.progress.tick()
        stop = self._stop_reason()
        for name in queue:
            outcome, reason = stop if stop is not None else ("pending", "not started")
            self._record(TargetResult(name, outcome, reason), wave)

    def _report(self) -> FleetReport:
        for wave in self.waves:
            for name in wave.targets:
                if name not in self.results:
                    outcome, reason = self._stop_reason() or ("pending", "not started")
                    self._record(TargetResult(name, outcome, reason), wave)
        order = [n for w in self.waves for n in w.targets]
        return FleetReport(
            tuple(self.results[n] for n in order),
            tuple(self.waves),
            parallel=self.fleet.parallel,
            canary=self.fleet.canary,
            halt_on=str(self.fleet.halt_on),
            dry_run=self.options.dry_run,
            halted=self.halted,
            interrupted=self.interrupts > 0,
            seconds=time.monotonic() - self.t0,
            internal_error=(f"{type(self.crash).__name__}: {self.crash}" if self.crash is not None else ""),
        )
