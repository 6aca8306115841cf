"""`--format sarif`: SARIF 2.1.0 for code-scanning tools (GitHub code scanning, Azure DevOps, IDEs)."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from foreshock import __version__
from foreshock.core.model import CheckResult
from foreshock.report.common import error_location, rule_info

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def artifact_location(path: str) -> dict[str, str]:
    """Relative paths stay relative to the checkout (%SRCROOT%); absolute ones become file: URIs."""
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    posix = PurePosixPath(*Path(path).parts).as_posix() if path else ""
    return {"uri": quote(posix), "uriBaseId": "%SRCROOT%"}


def to_sarif(result: CheckResult) -> dict[str, Any]:
    ids = sorted({f.rule for f in result.findings})
    infos = rule_info(set(ids))
    rules = []
    for rid in ids:
        info = infos[rid]
        rule: dict[str, Any] = {
            "id": rid,
            "name": rid,
            "shortDescription": {"text": info.summary or rid},
            "defaultConfiguration": {"level": _LEVEL.get(info.severity, "warning")},
        }
        if info.why:
            rule["fullDescription"] = {"text": info.why}
        help_text = "\n\n".join(p for p in (info.why, info.fix) if p)
        if help_text:
            rule["help"] = {"text": help_text}
        rules.append(rule)
    index = {rid: i for i, rid in enumerate(ids)}
    results = []
    for f in result.findings:
        text = (f.message or f.rule) if not f.fix else f"{f.message or f.rule}\nSafer:\n{f.fix}"
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _LEVEL.get(f.severity, "warning"),
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": artifact_location(f.path),
                            "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                        }
                    }
                ],
            }
        )
    notifications = []
    for err in result.errors:
        path, line, col, message = error_location(err)
        note: dict[str, Any] = {"level": "error", "message": {"text": message}}
        if path:
            loc: dict[str, Any] = {"artifactLocation": artifact_location(path)}
            if line:
                loc["region"] = {"startLine": line, "startColumn": max(col, 1)}
            note["locations"] = [{"physicalLocation": loc}]
        notifications.append(note)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "foreshock",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not result.errors,
                        "exitCode": result.exit_code,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render(result: CheckResult, out: TextIO) -> None:
    json.dump(to_sarif(result), out, indent=2, ensure_ascii=False)
    out.write("\n")
