"""Audit the locks under requirements/ with pip-audit, without letting an unreachable service fail a run.

pip-audit asks PyPI's vulnerability API about every pinned package. Where that service cannot be
reached (a machine that sees only a package mirror), every package comes back "not found"; this
script then says so in one line and exits 0, since nothing was learned either way. A known
vulnerability fails the run, naming the package, the version and the advisory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Verdict:
    reachable: bool
    audited: int = 0
    findings: list[str] = field(default_factory=list)


def read_report(stdout: str) -> Verdict:
    """pip-audit's JSON report → what it says; no report, or nothing audited, means unreachable."""
    try:
        deps = json.loads(stdout).get("dependencies", [])
    except (json.JSONDecodeError, AttributeError):
        return Verdict(reachable=False)
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        return Verdict(reachable=False)
    findings = []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            findings.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    return Verdict(reachable=True, audited=len(audited), findings=findings)


def audit(lock: Path) -> Verdict:
    proc = subprocess.run(  # noqa: S603 - our own interpreter's pip-audit, fixed arguments
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(lock),
            "--require-hashes",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return read_report(proc.stdout)


def main(locks: list[str]) -> int:
    if not locks:
        print("usage: audit_locks.py requirements/LOCK.txt ...", file=sys.stderr)
        return 2
    failed = False
    for lock in locks:
        verdict = audit(Path(lock))
        if not verdict.reachable:
            print(f"pip-audit: vulnerability service unreachable from here; {len(locks)} locks not audited")
            return 0
        for finding in verdict.findings:
            print(f"{lock}: {finding}")
        print(f"{lock}: {verdict.audited} packages audited, {len(verdict.findings)} known vulnerabilities")
        failed = failed or bool(verdict.findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
