"""foreshock on its peers' must-flag cases: squawk's per-rule tests and eugene's bad examples.

    .venv/bin/python benchmarks/peer_suites.py --squawk ~/src/squawk --eugene ~/src/eugene [--json out.json]

Nothing from the peers is part of this repository: clone sbdchd/squawk and kaaveland/eugene anywhere and
pass their paths. The cases are read from where each project keeps them:

- **squawk**: `crates/squawk_linter/src/rules/<rule>.rs`, the `#[test]` functions of each rule's test
  module. A case is *must-flag* when the test calls `lint_errors(sql, …)` / `lint_errors_with(sql,
  settings, …)` and its insta snapshot (`rules/snapshots/…__<test>.snap`) is not empty; `lint_ok*` cases
  are must-not-flag and are not counted here. A test's `LinterSettings` are followed: `pg_version` becomes
  `--pg-version` (raised to 12, the oldest foreshock models), `assume_in_transaction: true` becomes
  `--assume-transaction`; otherwise `--no-assume-transaction`, squawk's default.
- **eugene**: `eugene/examples/<ID>/bad.sql` (and `good.sql`), split into scripts at eugene's own `-- N.sql`
  markers; each script is one migration file run in its own transaction (eugene's model), the first
  building the schema the later ones are judged against. Findings on the first script of a multi-script
  example are not counted (it only creates the tables).

Each case runs through `foreshock check --format json` on its own (`--foreshock CMD`, default this
environment's). Per case it prints the peer rule, a category (lock / rewrite / scan / timeout /
compatibility / style / other: what the peer rule is about), and whether foreshock flagged it, with every
rule it raised and that rule's severity (`+good`: the rule also fires on eugene's safe version). A case
counts as flagged when some rule fires at warning or error level (any level for a style case) and does not
also fire on the safe version: an info note or a finding the safe version gets too is not a flag.
Summary: flagged N of M per category.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from real_corpora import default_foreshock  # the sibling script: same choice of executable

CATEGORIES = ("lock", "rewrite", "scan", "timeout", "compatibility", "style", "other")

# What each peer rule is about, by the rule's own documentation (lock: a lock that blocks traffic while
# something runs; rewrite: the table is rewritten; scan: the table is read in full under a lock;
# timeout: lock/statement timeouts; compatibility: breaks the running release; style: naming and types).
SQUAWK_CATEGORY = {
    "adding-field-with-default": "rewrite",
    "adding-foreign-key-constraint": "scan",
    "adding-not-nullable-field": "scan",
    "adding-serial-primary-key-field": "lock",
    "adding-required-field": "compatibility",
    "ban-alter-domain-with-add-constraint": "scan",
    "ban-char-field": "style",
    "ban-concurrent-index-creation-in-transaction": "other",
    "ban-create-domain-with-constraint": "other",
    "ban-drop-column": "compatibility",
    "ban-drop-database": "other",
    "ban-drop-not-null": "compatibility",
    "ban-drop-table": "compatibility",
    "ban-duplicate-column-assignments": "other",
    "ban-truncate-cascade": "other",
    "ban-uncommitted-transaction": "other",
    "changing-column-type": "rewrite",
    "constraint-missing-not-valid": "scan",
    "disallowed-unique-constraint": "lock",
    "identifier-too-long": "style",
    "prefer-bigint-over-int": "style",
    "prefer-bigint-over-smallint": "style",
    "prefer-identity": "style",
    "prefer-repack": "rewrite",
    "prefer-robust-stmts": "other",
    "prefer-text-field": "style",
    "prefer-timestamptz": "style",
    "renaming-column": "compatibility",
    "renaming-table": "compatibility",
    "require-concurrent-index-creation": "lock",
    "require-concurrent-index-deletion": "lock",
    "require-concurrent-partition-detach": "lock",
    "require-concurrent-reindex": "lock",
    "require-enum-value-ordering": "style",
    "require-table-schema": "style",
    "require-timeout-settings": "timeout",
    "transaction-nesting": "other",
}

EUGENE_CATEGORY = {
    "E1": ("validating table with a new constraint", "scan"),
    "E2": ("validating table with a new NOT NULL column", "scan"),
    "E3": ("adding a json column", "other"),
    "E4": ("running more statements after taking AccessExclusiveLock", "lock"),
    "E5": ("type change requiring table rewrite", "rewrite"),
    "E6": ("creating an index on an existing table non-concurrently", "lock"),
    "E7": ("creating a new unique constraint", "lock"),
    "E8": ("creating a new exclusion constraint", "lock"),
    "E9": ("taking a dangerous lock without timeout", "timeout"),
    "E10": ("rewrote table or index while holding a dangerous lock", "rewrite"),
    "E11": ("adding a SERIAL or GENERATED ... STORED column", "rewrite"),
    "W12": ("multiple ALTER TABLE statements where one will do", "style"),
    "W13": ("creating an enum", "style"),
    "W14": ("adding a primary key using an index", "scan"),
    "E15": ("foreign key without an index on the referencing side", "other"),
}


@dataclass
class Case:
    suite: str
    case: str
    peer_rule: str
    category: str
    scripts: list[str]
    options: list[str] = field(default_factory=list)
    judged_from: int = 0  # index of the first script whose findings count
    good_scripts: list[str] = field(default_factory=list)
    flagged_by: list[str] = field(default_factory=list)
    severities: dict[str, str] = field(default_factory=dict)  # rule -> its highest severity here
    also_on_good: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def flagged(self) -> bool:
        """Flagged for real: a rule that the safe version does not also get, at warning or error level
        (info is enough for a style case: style is what info-level findings are for)."""
        levels = ("warning", "error", "info") if self.category == "style" else ("warning", "error")
        return any(r not in self.also_on_good and self.severities.get(r) in levels for r in self.flagged_by)


# --- squawk ------------------------------------------------------------------------------------------

_TEST_FN = re.compile(r"#\[test\]\s*fn\s+(\w+)\s*\(\)\s*\{")
_CALL = re.compile(r"\b(lint_errors_with|lint_errors|lint_ok_with|lint_ok)\s*\(\s*&?")
_LET = re.compile(r"let\s+(\w+)\s*(?::\s*&str\s*)?=\s*")
_IDENT = re.compile(r"\w+")
_RULE = re.compile(r"Rule::(\w+)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def rust_string_at(text: str, i: int) -> tuple[str, int] | None:
    """The Rust string literal starting at text[i] (raw `r#"…"#` or plain `"…"`) and the index after it."""
    m = re.match(r'r(#*)"', text[i:])
    if m:
        close = '"' + m.group(1)
        j = text.find(close, i + m.end())
        return (text[i + m.end() : j], j + len(close)) if j >= 0 else None
    if not text.startswith('"', i):
        return None
    out, j = [], i + 1
    while j < len(text):
        c = text[j]
        if c == '"':
            return "".join(out), j + 1
        if c == "\\" and j + 1 < len(text):
            nxt = text[j + 1]
            if nxt == "\n":  # line continuation: the newline and the next line's indentation vanish
                j += 2
                while j < len(text) and text[j] in " \t":
                    j += 1
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            j += 2
            continue
        out.append(c)
        j += 1
    return None


def _kebab(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower().replace("timestamp-tz", "timestamptz")


def _fn_bodies(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TEST_FN.finditer(text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append((m.group(1), text[m.end() : i]))
    return out


def _snapshot_empty(rules_dir: Path, module: str, test: str) -> bool | None:
    snap = rules_dir / "snapshots" / f"squawk_linter__rules__{module}__test__{test}.snap"
    if not snap.is_file():
        return None
    parts = snap.read_text(encoding="utf-8").split("---", 2)
    return len(parts) == 3 and not parts[2].strip()


def _inline_snapshot_empty(body: str, after: int) -> bool | None:
    """For `assert_snapshot!(lint_errors(…), @"…")`: whether the inline snapshot is empty (None: none)."""
    m = re.compile(r",\s*@").search(body, after, after + 2000)
    if not m or body[after : m.start()].count("assert_snapshot!"):
        return None
    lit = rust_string_at(body, m.end())
    return None if lit is None else not lit[0].strip()


def squawk_cases(root: Path) -> list[Case]:
    rules_dir = root / "crates" / "squawk_linter" / "src" / "rules"
    if not rules_dir.is_dir():
        raise SystemExit(f"{root}: no crates/squawk_linter/src/rules (is this a squawk checkout?)")
    cases = []
    for src in sorted(rules_dir.glob("*.rs")):
        text = src.read_text(encoding="utf-8")
        if "mod test" not in text:
            continue
        module_rule = _RULE.search(text[text.index("mod test") :])
        default_rule = _kebab(module_rule.group(1)) if module_rule else src.stem.replace("_", "-")
        for test, body in _fn_bodies(text):
            strings: dict[str, str] = {}
            for m in _LET.finditer(body):
                lit = rust_string_at(body, m.end())
                if lit is not None:
                    strings[m.group(1)] = lit[0]
            for n, call in enumerate(_CALL.finditer(body)):
                if call.group(1).startswith("lint_ok"):
                    continue
                lit = rust_string_at(body, call.end())
                if lit is not None:
                    sql, arg_end = lit
                else:
                    ident = _IDENT.match(body, call.end())
                    if not ident or ident.group(0) not in strings:
                        continue
                    sql, arg_end = strings[ident.group(0)], ident.end()
                empty = _inline_snapshot_empty(body, arg_end)
                if empty is None and n == 0:
                    empty = _snapshot_empty(rules_dir, src.stem, test)
                if empty:
                    continue  # the snapshot records no error: not a must-flag case
                rule_m = _RULE.match(body[arg_end:].lstrip(" ,\n"), 0) or _RULE.search(
                    body, arg_end, arg_end + 600
                )
                rule = _kebab(rule_m.group(1)) if rule_m else default_rule
                if rule not in SQUAWK_CATEGORY:
                    rule = default_rule
                opts = ["--no-assume-transaction"]
                if call.group(1) == "lint_errors_with":
                    settings = body[arg_end : arg_end + 400]
                    if re.search(r"assume_in_transaction:\s*true", settings):
                        opts = ["--assume-transaction"]
                    v = re.search(r'pg_version:\s*"(\d+)', settings)
                    if v:
                        opts.append(f"--pg-version={max(12, min(17, int(v.group(1))))}")
                name = f"{src.stem}::{test}" + (f"#{n + 1}" if len(_CALL.findall(body)) > 1 else "")
                cases.append(Case("squawk", name, rule, SQUAWK_CATEGORY.get(rule, "other"), [sql], opts))
    return cases


# --- eugene ------------------------------------------------------------------------------------------

_SCRIPT_MARK = re.compile(r"^--\s*\d+\.sql\s*$", re.M)


def split_scripts(text: str) -> list[str]:
    marks = list(_SCRIPT_MARK.finditer(text))
    if not marks:
        return [text]
    return [
        text[m.start() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))]
        for i, m in enumerate(marks)
    ]


def eugene_cases(root: Path) -> list[Case]:
    examples = root / "eugene" / "examples"
    if not examples.is_dir():
        raise SystemExit(f"{root}: no eugene/examples (is this an eugene checkout?)")
    cases = []
    for d in sorted(examples.iterdir(), key=lambda p: (p.name[0], int(re.sub(r"\D", "", p.name) or 0))):
        bad = d / "bad.sql"
        if not bad.is_file():
            continue
        what, cat = EUGENE_CATEGORY.get(d.name, ("(unknown hint)", "other"))
        scripts = split_scripts(bad.read_text(encoding="utf-8"))
        good = d / "good.sql"
        cases.append(
            Case(
                "eugene",
                d.name,
                f"{d.name} {what}",
                cat,
                scripts,
                [],
                1 if len(scripts) > 1 else 0,
                split_scripts(good.read_text(encoding="utf-8")) if good.is_file() else [],
            )
        )
    return cases


# --- running foreshock ------------------------------------------------------------------------------


def _rules_found(
    cmd: list[str], scripts: list[str], options: list[str], judged_from: int, timeout: float
) -> tuple[dict[str, str], str]:
    with tempfile.TemporaryDirectory(prefix="peer-case-") as tmp:
        paths = []
        for i, sql in enumerate(scripts, 1):
            p = Path(tmp) / f"{i:03d}_case.sql"
            p.write_text(sql, encoding="utf-8")
            paths.append(p)
        target = str(paths[0]) if len(paths) == 1 else tmp
        proc = subprocess.run(
            [*cmd, "check", "--format", "json", target, *options],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            last = proc.stderr.strip().splitlines()
            return {}, f"exit {proc.returncode}: {last[-1] if last else 'no report'}"
        judged = {str(p.resolve()) for p in paths[judged_from:]}
        found: list[dict[str, object]] = list(report.get("findings", []))
        for f in report.get("files", []):
            if str(Path(f["path"]).resolve()) in judged:
                found += [fd for s in f.get("statements", []) for fd in s.get("findings", [])]
                found += f.get("findings", [])
        rank = {"info": 0, "warning": 1, "error": 2}
        rules: dict[str, str] = {}
        for fd in found:
            sev = str(fd["severity"])
            # A finding may carry another rule's advice on the same statement (one finding per statement):
            # that rule fired too, at the carrying finding's severity.
            carried = [str(c["rule"]) for c in fd.get("carries", [])]  # type: ignore[union-attr]
            for rule in (str(fd["rule"]), *carried):
                if rank.get(sev, 0) >= rank.get(rules.get(rule, "info"), 0):
                    rules[rule] = sev
        errors = [
            f"{Path(e['path']).name}:{e.get('line')}: {e.get('message')}" for e in report.get("errors", [])
        ]
        return dict(sorted(rules.items())), "; ".join(errors)


def run_case(case: Case, cmd: list[str], timeout: float) -> None:
    try:
        case.severities, case.error = _rules_found(cmd, case.scripts, case.options, case.judged_from, timeout)
        case.flagged_by = list(case.severities)
        if case.good_scripts:
            good, _ = _rules_found(cmd, case.good_scripts, case.options, case.judged_from, timeout)
            case.also_on_good = sorted(set(good) & set(case.flagged_by))
    except subprocess.TimeoutExpired:
        case.error = f"no answer within {timeout:.0f} s"


def report(cases: list[Case]) -> str:
    lines = []
    w_case = min(60, max((len(c.case) for c in cases), default=10))
    w_rule = max((len(c.peer_rule) for c in cases), default=10)
    for c in cases:
        shown = ", ".join(
            f"{r} ({c.severities.get(r, '?')}{', +good' if r in c.also_on_good else ''})"
            for r in c.flagged_by
        )
        if c.flagged:
            verdict = f"flagged: {shown}"
        elif c.flagged_by:
            verdict = f"NOT flagged (only: {shown})"
        else:
            verdict = "NOT flagged"
        if c.error:
            verdict += f"  (input error: {c.error})"
        name = c.case if len(c.case) <= w_case else c.case[: w_case - 1] + "…"
        lines.append(f"{c.suite:<7} {name:<{w_case}}  {c.peer_rule:<{w_rule}}  {c.category:<13} {verdict}")
    lines.append("")
    for suite in sorted({c.suite for c in cases}):
        lines.append(f"{suite}: flagged per category")
        total = Counter(c.category for c in cases if c.suite == suite)
        hit = Counter(c.category for c in cases if c.suite == suite and c.flagged)
        for cat in CATEGORIES:
            if total[cat]:
                lines.append(f"  {cat:<14} {hit[cat]:3d} of {total[cat]:3d}")
        lines.append(f"  {'all':<14} {sum(hit.values()):3d} of {sum(total.values()):3d}")
    core = [c for c in cases if c.category in ("lock", "rewrite", "scan", "timeout", "compatibility")]
    lines.append(
        f"lock/rewrite/scan/timeout/compatibility, both suites: flagged {sum(c.flagged for c in core)} "
        f"of {len(core)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--squawk", type=Path, metavar="DIR", help="a checkout of sbdchd/squawk")
    ap.add_argument("--eugene", type=Path, metavar="DIR", help="a checkout of kaaveland/eugene")
    ap.add_argument("--foreshock", metavar="CMD", help="foreshock executable (default: this environment's)")
    ap.add_argument("--timeout", type=float, default=120.0, metavar="S", help="per case (default 120)")
    ap.add_argument("--json", metavar="FILE", help="also write the cases as JSON ('-' for stdout)")
    args = ap.parse_args(argv)
    if not (args.squawk or args.eugene):
        ap.error("give --squawk DIR and/or --eugene DIR")
    cmd = shlex.split(args.foreshock) if args.foreshock else default_foreshock()
    cases = [
        *(squawk_cases(args.squawk) if args.squawk else []),
        *(eugene_cases(args.eugene) if args.eugene else []),
    ]
    for i, case in enumerate(cases, 1):
        print(f"\r[{i}/{len(cases)}] {case.suite} {case.case}", end="", file=sys.stderr, flush=True)
        run_case(case, cmd, args.timeout)
    print(file=sys.stderr)
    print(f"foreshock: {' '.join(cmd)}")
    print(report(cases))
    if args.json:
        text = json.dumps([{**asdict(c), "flagged": c.flagged} for c in cases], indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
