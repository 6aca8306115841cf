"""foreshock on real projects' migration histories: what it reads, what it says, and how much of it is signal.

    .venv/bin/python benchmarks/real_corpora.py lemmy=~/src/lemmy/migrations ctfd=~/src/CTFd/migrations \
        [--json out.json]
    .venv/bin/python benchmarks/real_corpora.py --foreshock "../old/.venv/bin/foreshock" PATH ... \
        -- --no-assume-transaction

Each argument is one project: `NAME=PATH`, or a bare `PATH` named after its basename. PATH is what the
project's maintainers would hand to their migration tool (a migrations directory, an alembic.ini, a Django
project directory). Nothing from the projects is part of this repository: clone them anywhere.

For each project it runs `foreshock check --format json PATH [extra options after --]` (the executable is
`--foreshock CMD`, by default this environment's foreshock, so an older checkout's venv can be measured for
a before/after comparison) with a timeout and an empty history cache of its own (the time is a cold run's;
benchmarks/cache_real.py measures warm runs), then a second default run (`--format gcc`, the options a user
would type) to count the info-level lines it prints. It prints one table and, per project, the findings by
rule and severity, findings per 100 statements (all of them, and those a default run lists: a version that
hides info findings says how many in summary.hidden_info), and every reason a migration was not analysed.
`--before FILE` (what `--json` wrote for an earlier version) adds a before -> after table per project:

    .venv/bin/python benchmarks/real_corpora.py PROJECTS... --foreshock OLD/.venv/bin/foreshock --json a.json
    .venv/bin/python benchmarks/real_corpora.py PROJECTS... --before a.json

Signal checks, computed here from the report and the project's own files, not taken from foreshock:
  (a) lock/duration findings (those naming a lock or carrying an estimate) on a table that the same
      migration file creates before that statement — read with pglast from the file's CREATE statements
      (from the report's statement texts when the file is not SQL, e.g. an Alembic or Django migration).
      A table the file creates (not IF NOT EXISTS, not after dropping one of that name) is new and empty:
      such a finding is noise and the share must be 0.
  (b) statements where `missing-lock-timeout` stands beside another finding (one problem, one finding);
      a finding that carries it (`carries`, the advice as its first fix line) counts it, and is not beside it.
  (c) info-level lines a default run prints (`note:` lines of gcc output).

Reads today's JSON and, when a foreshock version writes them, `summary.migrations` {found, analysed,
not_analysed}, top-level `not_analysed` [{path, line, reason}], `layouts` [{path, layout, source}] and
`summary.hidden_info`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pglast
from pglast.enums import ObjectType

LOCK_TIMEOUT_RULE = "missing-lock-timeout"


@dataclass
class ProjectResult:
    name: str
    path: str
    status: str = "ok"  # ok | timeout | failed
    detail: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    layouts: list[str] = field(default_factory=list)
    layouts_reported: bool = False
    found: int = 0
    analysed: int = 0
    not_analysed: int = 0
    migrations_reported: bool = False
    not_analysed_reasons: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    findings: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    per_100: float = 0.0
    # Findings a default (tty/gcc) run lists, per 100 statements: all of them, less the info findings a
    # version that hides them says it left out (summary.hidden_info).
    shown_per_100: float = 0.0
    per_100_by_rule: dict[str, float] = field(default_factory=dict)
    lock_findings: int = 0
    lock_findings_on_new_tables: int = 0
    new_table_examples: list[str] = field(default_factory=list)
    lock_timeout_findings: int = 0
    lock_timeout_beside_other: int = 0
    lock_timeout_carried: int = 0  # carried by another finding of the statement (its `carries`)
    lock_timeout_examples: list[str] = field(default_factory=list)
    default_info_lines: int | None = None
    hidden_info: int | None = None
    expected: int | None = None  # forward migrations by the tool's own rules (--expect), when given

    @property
    def new_table_share(self) -> float:
        return self.lock_findings_on_new_tables / self.lock_findings if self.lock_findings else 0.0


def cache_options(cmd: list[str], directory: str) -> list[str]:
    """A fresh, empty history cache for a project's runs, so the time shown is a cold run's whatever earlier
    runs left in the user's cache (nothing for a foreshock without the cache)."""
    try:
        proc = subprocess.run([*cmd, "check", "--help"], capture_output=True, text=True, timeout=60)
        helptext = proc.stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--cache-dir", directory] if "--cache-dir" in helptext else []


def default_foreshock() -> list[str]:
    exe = Path(sys.executable).with_name("foreshock")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("foreshock")
    return [found] if found else [sys.executable, "-m", "foreshock"]


def parse_project(arg: str) -> tuple[str, str]:
    name, sep, path = arg.partition("=")
    if sep and name and "/" not in name:
        return name, path
    p = arg.rstrip("/")
    return Path(p).name or p, arg


# --- reading a migration file's CREATE statements -------------------------------------------------------


def _range_var_names(rv: Any) -> set[str]:
    name = rv.relname
    schema = rv.schemaname
    return {f"{schema}.{name}" if schema else name}


def created_tables(sql_texts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line, name) of every relation a CREATE in these texts makes new; name is `schema.rel` or `rel`.

    `sql_texts` are (first line, text) pairs: the whole file, or one statement each when the file is not
    SQL or does not parse as a whole (then each statement is tried on its own and the ones that fail are
    skipped — a CREATE we cannot read only makes check (a) more lenient, never stricter). Neither a
    `CREATE … IF NOT EXISTS` (the table may exist already) nor a relation the file drops before creating it
    again is new: the DROP's lock on the old one is held until commit
    and queries of that name queue behind it, so findings about it are real."""
    created: list[tuple[int, str]] = []
    dropped: list[tuple[int, str]] = []
    for first_line, text in sql_texts:
        try:
            stmts = pglast.parse_sql(text)
        except pglast.parser.ParseError:
            continue
        for raw in stmts:
            node = raw.stmt
            line = first_line + text.count("\n", 0, raw.stmt_location or 0)
            kind = type(node).__name__
            if getattr(node, "if_not_exists", False):
                continue  # IF NOT EXISTS: the table may well exist already (and then its locks are real)
            if kind == "CreateStmt":
                created += [(line, n) for n in _range_var_names(node.relation)]
            elif kind == "CreateTableAsStmt":
                created += [(line, n) for n in _range_var_names(node.into.rel)]
            elif kind == "SelectStmt" and getattr(node, "intoClause", None) is not None:
                created += [(line, n) for n in _range_var_names(node.intoClause.rel)]
            elif kind == "DropStmt" and ObjectType(node.removeType) in _RELATION_DROPS:
                for obj in node.objects or ():
                    names = [getattr(x, "sval", None) for x in obj]
                    if all(names):
                        dropped.append((line, ".".join(str(n) for n in names)))
    return [
        (line, name)
        for line, name in created
        if not any(
            dl < line and (d == name or d.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]) for dl, d in dropped
        )
    ]


_RELATION_DROPS = {
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_FOREIGN_TABLE,
}


def _strip_quotes(name: str) -> str:
    return ".".join(part.strip('"') for part in name.split("."))


def table_matches(finding_table: str, created: str) -> bool:
    ft = _strip_quotes(finding_table)
    if "." in created:
        return ft == created
    return ft == created or ft.rsplit(".", 1)[-1] == created


def file_creates(path: str, statements: list[dict[str, Any]], base: Path) -> list[tuple[int, str]]:
    p = Path(path)
    if not p.is_absolute():
        p = base / p if (base / p).exists() else Path.cwd() / p
    if p.suffix == ".sql" and p.is_file():
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None:
            try:
                pglast.parse_sql(text)
                return created_tables([(1, text)])
            except pglast.parser.ParseError:
                pass  # e.g. template syntax or psql meta-commands: read statement by statement below
    return created_tables([(int(s.get("line") or 1), str(s.get("text") or "")) for s in statements])


# --- one project ------------------------------------------------------------------------------------------


def _reason_key(message: str) -> str:
    """Group not-analysed reasons: drop the specifics (quoted names, numbers) so one cause is one line."""
    msg = re.sub(r'"[^"]*"|\'[^\']*\'|`[^`]*`', "…", message)
    msg = re.sub(r"\d+", "N", msg)
    return msg[:160]


def all_findings(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None, str]]:
    """Every finding once, with its statement (None for file-level and top-level ones) and its file path."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []
    for f in report.get("files", []):
        for s in f.get("statements", []):
            for fd in s.get("findings", []):
                out.append((fd, s, f["path"]))
        for fd in f.get("findings", []):
            out.append((fd, None, f["path"]))
    for fd in report.get("findings", []):
        out.append((fd, None, str(fd.get("path", ""))))
    return out


def summarise(res: ProjectResult, report: dict[str, Any], base: Path) -> None:
    summary = report.get("summary", {})
    res.statements = int(summary.get("statements", 0))
    if isinstance(report.get("layouts"), list):
        res.layouts_reported = True
        res.layouts = sorted({str(x.get("layout")) for x in report["layouts"]})
    errors = report.get("errors", [])
    if isinstance(report.get("not_analysed"), list):
        reasons = [str(x.get("reason", "")) for x in report["not_analysed"]]
    else:
        reasons = [str(e.get("message", "")) for e in errors]
    res.not_analysed_reasons = dict(Counter(_reason_key(r) for r in reasons).most_common())
    mig = summary.get("migrations")
    if isinstance(mig, dict):
        res.migrations_reported = True
        res.found = int(mig.get("found", 0))
        res.analysed = int(mig.get("analysed", 0))
        res.not_analysed = int(mig.get("not_analysed", 0))
    else:
        # Older reports: a migration is analysed when it is listed in files[] and has no input error.
        bad = {e.get("path") for e in errors}
        res.analysed = sum(1 for f in report.get("files", []) if f["path"] not in bad)
        res.not_analysed = len(bad)
        res.found = res.analysed + res.not_analysed
    if "hidden_info" in summary:
        res.hidden_info = int(summary["hidden_info"])

    findings = all_findings(report)
    res.findings = len(findings)
    sev: Counter[str] = Counter()
    rules: dict[str, Counter[str]] = {}
    for fd, _, _ in findings:
        sev[fd["severity"]] += 1
        rules.setdefault(fd["rule"], Counter())[fd["severity"]] += 1
    res.by_severity = dict(sev)
    res.by_rule = {r: dict(c) for r, c in sorted(rules.items(), key=lambda kv: -sum(kv[1].values()))}
    if res.statements:
        res.per_100 = 100.0 * res.findings / res.statements
        res.shown_per_100 = 100.0 * (res.findings - (res.hidden_info or 0)) / res.statements
        res.per_100_by_rule = {r: 100.0 * sum(c.values()) / res.statements for r, c in res.by_rule.items()}

    # (a) lock/duration findings on tables created earlier in the same file
    creates_by_file: dict[str, list[tuple[int, str]]] = {}
    for f in report.get("files", []):
        creates_by_file[f["path"]] = file_creates(f["path"], f.get("statements", []), base)
    for fd, stmt, path in findings:
        if not (fd.get("lock") or fd.get("estimate")):
            continue
        res.lock_findings += 1
        line = int((stmt or fd).get("line") or 0)
        created = [n for ln, n in creates_by_file.get(path, []) if ln < line]
        hit = [t for t in fd.get("tables") or [] if any(table_matches(t, n) for n in created)]
        if hit:
            res.lock_findings_on_new_tables += 1
            if len(res.new_table_examples) < 5:
                res.new_table_examples.append(f"{path}:{line} [{fd['rule']}] {', '.join(hit)}")

    # (b) missing-lock-timeout beside another finding on the same statement
    for f in report.get("files", []):
        for s in f.get("statements", []):
            carried = sum(
                1
                for fd in s.get("findings", [])
                for c in fd.get("carries", [])
                if c.get("rule") == LOCK_TIMEOUT_RULE
            )
            res.lock_timeout_carried += carried
            res.lock_timeout_findings += carried
            rules_here = [fd["rule"] for fd in s.get("findings", [])]
            if LOCK_TIMEOUT_RULE in rules_here:
                res.lock_timeout_findings += rules_here.count(LOCK_TIMEOUT_RULE)
                if any(r != LOCK_TIMEOUT_RULE for r in rules_here):
                    res.lock_timeout_beside_other += 1
                    if len(res.lock_timeout_examples) < 3:
                        others = sorted({r for r in rules_here if r != LOCK_TIMEOUT_RULE})
                        res.lock_timeout_examples.append(
                            f"{f['path']}:{s.get('line')} beside {', '.join(others)}"
                        )
    res.lock_timeout_findings += sum(
        1 for fd, stmt, _ in findings if stmt is None and fd["rule"] == LOCK_TIMEOUT_RULE
    )


def _check(
    cmd: list[str], fmt: str, path: str, extra: list[str], timeout: float, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cmd, "check", "--format", fmt, path, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def run_project(
    name: str,
    path: str,
    cmd: list[str],
    extra: list[str],
    timeout: float,
    env: dict[str, str],
    default_run: bool,
) -> ProjectResult:
    res = ProjectResult(name=name, path=path)
    base = Path(path) if Path(path).is_dir() else Path(path).parent
    t0 = time.perf_counter()
    try:
        proc = _check(cmd, "json", path, extra, timeout, env)
    except subprocess.TimeoutExpired:
        res.status, res.detail, res.seconds = "timeout", f"no answer within {timeout:.0f} s", timeout
        return res
    except OSError as e:
        res.status, res.detail = "failed", f"cannot run {cmd[0]}: {e}"
        return res
    res.seconds = time.perf_counter() - t0
    res.exit_code = proc.returncode
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        res.status = "failed"
        lines = proc.stderr.strip().splitlines()
        res.detail = f"exit {proc.returncode}, no JSON report: {lines[-1] if lines else '(no message)'}"
        return res
    summarise(res, report, base)
    if default_run:
        try:
            gcc = _check(cmd, "gcc", path, extra, timeout, env)
            res.default_info_lines = sum(
                1 for ln in gcc.stdout.splitlines() if re.search(r":\d+:\d+: note: ", ln)
            )
        except subprocess.TimeoutExpired:
            res.default_info_lines = None
    return res


# --- output -------------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(results: list[ProjectResult]) -> str:
    head = [
        "project",
        "layout",
        "expect",
        "found",
        "analysed",
        "not",
        "stmts",
        "err",
        "warn",
        "info",
        "per100",
        "shown",
        "(a)new-tbl",
        "(b)mlt+",
        "(c)info-lines",
        "exit",
        "time",
    ]
    rows = [head]
    for r in results:
        if r.status != "ok":
            rows.append([r.name, r.status, *[""] * (len(head) - 3), f"{r.seconds:.1f}s"])
            continue
        derived = "" if r.migrations_reported else "*"
        rows.append(
            [
                r.name,
                ",".join(r.layouts) if r.layouts_reported else "-",
                "-" if r.expected is None else str(r.expected),
                f"{r.found}{derived}",
                str(r.analysed),
                str(r.not_analysed),
                str(r.statements),
                str(r.by_severity.get("error", 0)),
                str(r.by_severity.get("warning", 0)),
                str(r.by_severity.get("info", 0)),
                f"{r.per_100:.1f}",
                f"{r.shown_per_100:.1f}",
                f"{r.lock_findings_on_new_tables}/{r.lock_findings} {_pct(r.new_table_share)}",
                f"{r.lock_timeout_beside_other}/{r.lock_timeout_findings}",
                "-" if r.default_info_lines is None else str(r.default_info_lines),
                str(r.exit_code),
                f"{r.seconds:.1f}s",
            ]
        )
    return _aligned(rows, left=2)


def _aligned(rows: list[list[str]], left: int) -> str:
    """Columns padded to their widest cell (the first `left` ones flush left), a rule under the head row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def comparison(before: dict[str, Any], results: list[ProjectResult]) -> str:
    """Before -> after per project present in both runs: `before` is what --json wrote for an earlier version
    (run it with --foreshock pointing at that version's executable)."""
    old = {p["name"]: p for p in before.get("projects", []) if p.get("status") == "ok"}
    rows = [
        ["project", "stmts", "per100", "shown", "(a)new-tbl", "(b)mlt+", "(c)info-lines"],
    ]
    for r in results:
        b = old.get(r.name)
        if b is None or r.status != "ok":
            continue
        # An earlier version's JSON may lack a field this one writes: it listed every finding it had.
        # (0.0 shown is a figure, not a missing one.)
        b_shown = b["per_100"] if b.get("shown_per_100") is None else b["shown_per_100"]
        b_info = "-" if b.get("default_info_lines") is None else str(b["default_info_lines"])
        r_info = "-" if r.default_info_lines is None else str(r.default_info_lines)
        rows.append(
            [
                r.name,
                f"{b['statements']} -> {r.statements}",
                f"{b['per_100']:.1f} -> {r.per_100:.1f}",
                f"{b_shown:.1f} -> {r.shown_per_100:.1f}",
                f"{b['lock_findings_on_new_tables']} -> {r.lock_findings_on_new_tables}",
                f"{b['lock_timeout_beside_other']} -> {r.lock_timeout_beside_other}",
                f"{b_info} -> {r_info}",
            ]
        )
    return _aligned(rows, left=1)


def details(r: ProjectResult) -> str:
    out = [f"== {r.name}  ({r.path})"]
    if r.status != "ok":
        out.append(f"  {r.status}: {r.detail}")
        return "\n".join(out)
    out.append(
        f"  findings {r.findings} ({r.per_100:.1f} per 100 statements); "
        "by rule (error/warning/info, per 100):"
    )
    for rule, sev in r.by_rule.items():
        counts = "/".join(str(sev.get(s, 0)) for s in ("error", "warning", "info"))
        out.append(f"    {rule:<44} {counts:>14}  {r.per_100_by_rule.get(rule, 0.0):6.1f}")
    if r.not_analysed_reasons:
        out.append("  not analysed, by reason:")
        for reason, n in r.not_analysed_reasons.items():
            out.append(f"    {n:5d}  {reason}")
    if r.new_table_examples:
        out.append(
            "  (a) lock/duration findings on tables created earlier in the file: "
            f"{r.lock_findings_on_new_tables}, e.g."
        )
        out.extend(f"    {e}" for e in r.new_table_examples)
    if r.lock_timeout_examples:
        out.append(
            f"  (b) {LOCK_TIMEOUT_RULE} beside another finding: "
            f"{r.lock_timeout_beside_other} statements, e.g."
        )
        out.extend(f"    {e}" for e in r.lock_timeout_examples)
    if r.lock_timeout_carried:
        out.append(
            f"  (b) {LOCK_TIMEOUT_RULE} carried by the statement's main finding (first fix line): "
            f"{r.lock_timeout_carried} of {r.lock_timeout_findings}"
        )
    if r.hidden_info is not None:
        out.append(f"  info findings hidden from default output (summary.hidden_info): {r.hidden_info}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("projects", nargs="+", metavar="NAME=PATH|PATH")
    ap.add_argument("--foreshock", metavar="CMD", help="foreshock executable (default: this environment's)")
    ap.add_argument(
        "--timeout", type=float, default=900.0, metavar="S", help="per project and run (default 900)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON ('-' for stdout)")
    ap.add_argument(
        "--pythonpath",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="prepend DIR to PYTHONPATH for project NAME (a Django project's dependencies)",
    )
    ap.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="NAME=N",
        help="forward migrations project NAME has by its tool's own rules (shown beside 'found')",
    )
    ap.add_argument(
        "--no-default-run", action="store_true", help="skip the gcc run that counts info lines (c)"
    )
    ap.add_argument(
        "--before",
        metavar="FILE",
        help="the --json of an earlier run (another version: --foreshock): print before -> after per project",
    )
    args = ap.parse_args(argv)
    before = json.loads(Path(args.before).read_text(encoding="utf-8")) if args.before else None

    cmd = shlex.split(args.foreshock) if args.foreshock else default_foreshock()
    pythonpath: dict[str, list[str]] = {}
    for item in args.pythonpath:
        n, sep, d = item.partition("=")
        if not sep:
            ap.error(f"--pythonpath {item!r}: expected NAME=DIR")
        pythonpath.setdefault(n, []).append(d)

    expected: dict[str, int] = {}
    for item in args.expect:
        n, sep, count = item.partition("=")
        if not (sep and count.isdigit()):
            ap.error(f"--expect {item!r}: expected NAME=N")
        expected[n] = int(count)

    results = []
    for arg in args.projects:
        name, path = parse_project(arg)
        env = dict(os.environ)
        if name in pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([*pythonpath[name], *filter(None, [env.get("PYTHONPATH")])])
        print(f"[{name}] {path} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="foreshock-cache-") as cache:
            options = [*cache_options(cmd, cache), *extra]
            r = run_project(name, path, cmd, options, args.timeout, env, not args.no_default_run)
        r.expected = expected.get(name)
        print(f"[{name}] {r.status} in {r.seconds:.1f}s", file=sys.stderr, flush=True)
        results.append(r)

    print(f"foreshock: {' '.join(cmd)}{' ' + ' '.join(extra) if extra else ''}")
    print(table(results))
    if any(r.status == "ok" and not r.migrations_reported for r in results):
        print(
            "* found = analysed + not analysed, derived from files[] and errors[] "
            "(no summary.migrations in this report)"
        )
    print(
        "expect = forward migrations by the tool's own rules (--expect); per100 = findings per 100 "
        "statements; shown = per 100 statements, the findings a default run lists (info left out where the "
        "version hides it); (a) lock/duration findings on tables created earlier in the same file / all "
        "lock/duration findings;"
        f" (b) statements with {LOCK_TIMEOUT_RULE} beside another finding / all {LOCK_TIMEOUT_RULE};"
        " (c) info-level lines of a default gcc run\n"
    )
    if before is not None:
        print(f"before -> after ({' '.join(before.get('foreshock', []))} -> {' '.join(cmd)}):")
        print(comparison(before, results))
        print()
    for r in results:
        print(details(r))
        print()
    if args.json:
        data = [{**asdict(r), "new_table_share": r.new_table_share} for r in results]
        text = json.dumps({"foreshock": cmd, "extra": extra, "projects": data}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
