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
from pathlib import Path


def audit(lock: Path) -> int:
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
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"{lock}: not audited, the vulnerability service is unreachable ({last[:160]})")
        return 0
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        print(f"{lock}: not audited, the vulnerability service is unreachable (0 of {len(deps)} found)")
        return 0
    found = [(d, v) for d in audited for v in d.get("vulns", [])]
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
        print(f"{lock}: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    print(f"{lock}: {len(audited)} of {len(deps)} packages audited, {len(found)} known vulnerabilities")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: audit_locks.py requirements/LOCK.txt ...", file=sys.stderr)
        return 2
    return max(audit(Path(lock)) for lock in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
