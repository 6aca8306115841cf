"""Fleets without a server: the targets file, rollout order, halt policies, outcomes, progress, and
`check --stats-dir` over hand-written sizes (a fleet judged from files)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from foreshock.apply.results import ApplyResult, UnitResult
from foreshock.cli import run
from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Estimate
from foreshock.errors import ConfigError
from foreshock.fleet import HaltPolicy, Hold, Prediction, load_targets, plan_waves
from foreshock.fleet.progress import FleetProgress
from foreshock.fleet.report import FleetReport, TargetResult, Wave, render_apply
from foreshock.fleet.rollout import target_outcome
from foreshock.fleet.targets import select_targets

SECRET = "hunter2-never-printed"


def _write(tmp_path: Path, text: str, name: str = "targets.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_targets_file_with_defaults_env_stages_tags_and_schemas(tmp_path: Path) -> None:
    path = _write(tmp_path, """
stages = ["internal", "small", "large"]

[defaults]
dsn_env = "APP_DSN"

[[target]]
name = "big"
schema = "tenant_big"
stage = "large"

[[target]]
name = "acme"
schema = "tenant_acme"
stage = "internal"
tags = ["eu", "paid"]

[[target]]
name = "own"
dsn = "postgresql://u@db2/own"

[[target]]
name = "mid"
schema = "tenant_mid"
stage = "small"
""")
    tf = load_targets(path, {"APP_DSN": "postgresql://app@db1/app"})
    assert tf.errors == ()
    by = {t.name: t for t in tf.targets}
    assert by["acme"].schema == "tenant_acme" and by["acme"].tags == ("eu", "paid")
    assert by["acme"].dsn == "postgresql://app@db1/app" and by["own"].dsn == "postgresql://u@db2/own"
    assert [by[n].stage_rank for n in ("acme", "mid", "big", "own")] == [0, 1, 2, 3]  # unstaged last
    assert by["acme"].line == 12
    assert select_targets(tf.targets, tags=["eu"]) == [by["acme"]]
    assert select_targets(tf.targets, names=["mid", "own"]) == [by["own"], by["mid"]]  # file order
    with pytest.raises(ConfigError, match="no target named nope"):
        select_targets(tf.targets, names=["nope"])


def test_integer_stages_order_numerically(tmp_path: Path) -> None:
    path = _write(tmp_path, "".join(
        f'[[target]]\nname = "t{s}"\ndsn = "host=h dbname=d{s}"\nstage = {s}\n' for s in (10, 2, 1)
    ))
    tf = load_targets(path, {})
    assert {t.name: t.stage_rank for t in tf.targets} == {"t1": 0, "t2": 1, "t10": 2}


def test_bad_targets_are_one_line_each_with_position_and_the_others_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""stages = ["a"]
colour = "blue"

[[target]]
name = "ok"
dsn = "postgresql://u@h/ok"

[[target]]
name = "ok"
dsn = "postgresql://u@h/other"

[[target]]
name = "both"
dsn = "postgresql://u@h/x"
dsn_env = "X"

[[target]]
name = "noenv"
dsn_env = "FORESHOCK_TEST_UNSET_VARIABLE"

[[target]]
name = "same"
dsn = "host=h dbname=ok user=v"

[[target]]
name = "bad stage"
dsn = "postgresql://u@h/y"

[[target]]
name = "badkey"
dsn = "postgresql://u@h/z"
shema = "t"

[[target]]
name = "wrongstage"
dsn = "postgresql://u@h/w"
stage = "b"

[[target]]
name = "malformed"
dsn = "host=h password='{SECRET}"
""")
    tf = load_targets(path, {})
    lines = [e.one_line() for e in tf.errors]
    text = "\n".join(lines)
    assert SECRET not in text
    p = str(path)
    assert f"{p}:2:1: unknown key 'colour'" in text
    assert f"{p}:9:1: target name 'ok' is used twice (also line 5)" in text
    assert f"{p}:14:1: target both needs exactly one of dsn" in text
    assert f"{p}:19:1: target noenv: environment variable FORESHOCK_TEST_UNSET_VARIABLE is not set" in text
    assert f"{p}:22:1: target same is the same database as target ok" in text
    assert f"{p}:26:1: target name 'bad stage' may only hold letters" in text
    assert f"{p}:32:1: unknown key 'shema' in [[target]]" in text
    assert f"{p}:37:1: target wrongstage: stage 'b' is not listed in stages" in text
    assert f"{p}:41:1: target malformed: dsn is not a valid PostgreSQL connection string" in text
    assert [t.name for t in tf.targets] == ["ok"]


def test_targets_file_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    tf = load_targets(_write(tmp_path, '[[target]]\nname = "a"\ndsn = "x\n'), {})
    assert tf.targets == () and len(tf.errors) == 1
    assert tf.errors[0].line == 3 and "fix the TOML syntax" in tf.errors[0].one_line()
    missing = load_targets(tmp_path / "nope.toml", {})
    assert "cannot read the targets file" in missing.errors[0].one_line()


def test_halt_policies() -> None:
    assert HaltPolicy.parse("first").halts(1, 100)
    assert not HaltPolicy.parse("never").halts(99, 100)
    pct = HaltPolicy.parse("percent:10")
    assert not pct.halts(10, 100) and pct.halts(11, 100) and str(pct) == "percent:10"
    for bad in ("percent:x", "percent:100", "sometimes"):
        with pytest.raises(ConfigError, match="--halt-on"):
            HaltPolicy.parse(bad)


def _prediction(seconds: float | None, lock: LockMode = LockMode.AccessExclusiveLock) -> Prediction:
    if seconds is None:
        return Prediction(None, note="no sizes")
    result = CheckResult((), (), (), 16, size_blind=False)
    hold = Hold("public.t", lock, Estimate(seconds, seconds / 2, seconds * 2), 2.0, seconds > 2.0, "m.sql", 1,
                1, "ALTER TABLE t ...")
    return Prediction(result, hold, seconds=seconds)


def test_rollout_order_canary_from_the_first_stage_lowest_risk_first_unknown_last(tmp_path: Path) -> None:
    path = _write(tmp_path, "".join(
        f'[[target]]\nname = "{n}"\ndsn = "host=h dbname={n}"\n' + (f"stage = {s}\n" if s is not None else "")
        for n, s in (("big", 1), ("small", 1), ("blind", 1), ("later", 2), ("down", 1), ("free", 0))
    ))
    tf = load_targets(path, {})
    preds = {"big": _prediction(30.0), "small": _prediction(0.01), "blind": _prediction(None),
             "later": _prediction(0.001), "free": _prediction(5.0)}
    waves = plan_waves(tf.targets, preds, canary=1, unreachable=["down"])
    assert [(w.label, w.targets) for w in waves] == [
        ("canary", ("free",)),
        ("stage 1", ("small", "big", "blind", "down")),
        ("stage 2", ("later",)),
    ]
    # Without stages: one rollout wave, canaries are the least risky reachable targets.
    flat = [t for t in tf.targets if t.name in ("big", "small", "down")]
    flat = [type(t)(t.name, t.dsn) for t in flat]
    waves = plan_waves(flat, preds, canary=2, unreachable=["down"])
    assert [(w.label, w.targets) for w in waves] == [("canary", ("small", "big")), ("rollout", ("down",))]


def _result(*outcomes: str, dry: bool = False) -> ApplyResult:
    units = tuple(
        UnitResult(f"m{i}", f"m{i}.sql", "c", o, message=f"{o} m{i}") for i, o in enumerate(outcomes)
    )
    return ApplyResult(units, dry_run=dry)


def test_target_outcome_follows_what_apply_decided() -> None:
    assert target_outcome(_result("applied", "already-applied")) == ("applied", "")
    assert target_outcome(_result("already-applied")) == ("already-applied", "")
    assert target_outcome(_result("applied", "failed")) == ("failed", "failed m1")
    # A gate inside apply that refuses a migration at the target's size is that target's outcome.
    assert target_outcome(_result("refused", "failed")) == ("refused", "refused m0")
    assert target_outcome(_result("planned", dry=True)) == ("planned", "")


def test_progress_counts_and_estimates_what_is_left() -> None:
    out = io.StringIO()
    p = FleetProgress(4, live=False, stream=out)
    p.start()
    p.started("a")
    p.started("b")
    p.done(TargetResult("a", "applied", seconds=0.5))
    p.done(TargetResult("b", "unreachable", "cannot connect"))
    p.done(TargetResult("c", "skipped", "halted"))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/4] a: applied in 500 ms  (fleet: 1/4 done, 1 running (b), 0 failed")
    assert "[2/4] b: unreachable -- cannot connect" in lines[1] and "1 failed/unreachable" in lines[1]
    assert len(lines) == 2  # targets not started print nothing
    assert p.eta() is not None and p.eta() >= 0  # one target left (d): estimated from the rate so far
    quiet = io.StringIO()
    q = FleetProgress(1, enabled=False, stream=quiet)
    q.done(TargetResult("a", "applied", seconds=0.1))
    assert quiet.getvalue() == ""


def test_apply_report_lists_every_target_and_why(tmp_path: Path) -> None:
    ok = TargetResult("a", "applied", started=0.0, seconds=0.2, result=_result("applied"), wave="canary",
                      canary=True, prediction=_prediction(0.001))
    bad = TargetResult("b", "failed", "m.sql:1: step 1 failed: boom", started=0.2, seconds=0.1,
                       result=_result("failed"), wave="rollout")
    skipped = TargetResult("c", "skipped", "halted: target b failed (--halt-on first)", wave="rollout")
    report = FleetReport((ok, bad, skipped), (Wave("canary", ("a",), True), Wave("rollout", ("b", "c"))),
                         parallel=2, canary=1, halt_on="first", halted="target b failed (--halt-on first)",
                         seconds=0.4)
    text = render_apply(report)
    assert "1 applied, 1 failed, 1 skipped" in text
    assert "  b: failed -- m.sql:1: step 1 failed: boom" in text
    assert "halted: target b failed (--halt-on first); 1 target(s) not started" in text
    assert "run the same command again to finish" in text
    data = report.to_json()
    assert data["summary"] == {"targets": 3, "applied": 1, "failed": 1, "skipped": 1, "exit_code": 2}
    assert data["targets"][0]["prediction"]["worst_hold"]["lock"] == "AccessExclusiveLock"


def _fleet_dir(tmp_path: Path, sizes: dict[str, int]) -> Path:
    d = tmp_path / "stats"
    d.mkdir()
    for name, rows in sizes.items():
        (d / f"{name}.json").write_text(json.dumps({"tables": {"public.orders": {"rows": rows}}}))
    return d


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_stats_dir_names_the_targets_over_budget_and_the_largest_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "001_orders.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY, total int);\n")
    (mig / "002_status.sql").write_text(
        "ALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = 'paid';\n"
    )
    stats = _fleet_dir(tmp_path, {"tiny": 1_000, "mid": 200_000, "huge": 80_000_000, "whale": 40_000_000})
    code, out, _ = _check(capsys, str(mig), "--stats-dir", str(stats), "--format", "json")
    report: dict[str, Any] = json.loads(out)
    assert code == 1  # error-level findings at some targets' sizes
    by = {t["name"]: t for t in report["targets"]}
    assert len(by) == 4 and [t["name"] for t in report["targets"]] == ["tiny", "mid", "whale", "huge"]
    assert by["tiny"]["verdict"] != "error" and not by["tiny"]["over_budget"]
    assert by["huge"]["verdict"] == "error" and by["huge"]["over_budget"]
    assert report["summary"]["over_budget"] == ["whale", "huge"]
    largest = report["summary"]["largest_hold"]
    assert largest["target"] == "huge" and largest["lock"] == "AccessExclusiveLock"
    assert largest["statement"]["line"] == 2 and largest["statement"]["path"].endswith("002_status.sql")
    assert largest["rows"] == 80_000_000 and largest["seconds"] > largest["budget"]
    # The same verdict as `check --stats` with that target's file alone.
    single = run(["check", str(mig), "--stats", str(stats / "huge.json"), "--format", "json"])
    one = json.loads(capsys.readouterr()[0])
    assert single == 1
    assert sorted(f["rule"] for f in one["files"][1]["statements"][1]["findings"]) == sorted(
        f["rule"] for f in by["huge"]["findings"] if f["line"] == 2
    )
    code, text, _ = _check(capsys, str(mig), "--stats-dir", str(stats))
    assert "over the lock budget: 2 target(s) (whale, huge)" in text
    assert "largest predicted hold: huge -- AccessExclusiveLock on public.orders" in text
    assert "errors at the targets' sizes:" in text and "on 2 target(s) (whale, huge)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "x.sql", "--fleet", "t.toml", "--stats", "s.json"], "drop --stats/--dsn"),
        (["check", "x.sql", "--parallel", "3"], "--parallel only applies with --fleet"),
        (["check", "x.sql", "--stats-dir", ".", "--format", "sarif"], "not available with a fleet"),
        (["apply", "x.sql", "--dsn", "postgresql://h/d", "--canary", "2"], "--canary: only with --fleet"),
        (["apply", "x.sql", "--fleet", "t.toml", "--dsn", "postgresql://h/d"], "exclude each other"),
        (["apply", "x.sql", "--fleet", "t.toml", "--halt-on", "often"], "--halt-on: 'often' is not a policy"),
        (["snapshot", "-o", "out"], "snapshot needs --dsn URL"),
    ],
)
def test_fleet_options_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str],
    message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORESHOCK_DSN", raising=False)
    (tmp_path / "x.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    (tmp_path / "t.toml").write_text('[[target]]\nname = "a"\ndsn = "host=/nonexistent dbname=a"\n')
    (tmp_path / "s.json").write_text('{"tables": {}}')
    code = run(args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_apply_refuses_a_targets_file_with_problems_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    tf = _write(tmp_path, f'[[target]]\nname = "a"\ndsn = "host=/nonexistent dbname=a password={SECRET}"\n'
                          '[[target]]\nname = "a"\ndsn = "host=/nonexistent dbname=b"\n')
    code = run(["apply", str(tmp_path / "x.sql"), "--fleet", str(tf)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and SECRET not in err
    assert err.splitlines() == [
        f"{tf}:5:1: target name 'a' is used twice (also line 2); names must be unique",
        f"foreshock: {tf}: 1 problem(s) in the targets file (listed above); fix them before applying -- "
        "nothing was run",
    ]


def test_live_progress_prints_finished_targets_above_the_status_line() -> None:
    out = io.StringIO()
    p = FleetProgress(2, live=True, stream=out)
    p.start()
    p.started("a")
    assert p.status().startswith("fleet: 0/2 done, 1 running (a)")
    p.note("Ctrl-C: starting no more targets")
    p.done(TargetResult("a", "applied", seconds=0.1))
    p.stop()
    text = out.getvalue()
    assert "[1/2] a: applied in 100 ms" in text and "fleet: Ctrl-C: starting no more targets" in text
