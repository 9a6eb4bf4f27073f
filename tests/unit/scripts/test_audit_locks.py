"""How `make audit` reads pip-audit's report: findings fail, an unreachable service does not."""

from __future__ import annotations

import json

from scripts.audit_locks import read_report


def report(*deps: dict[str, object]) -> str:
    return json.dumps({"dependencies": list(deps), "fixes": []})


def test_a_known_vulnerability_is_named_with_its_fix() -> None:
    verdict = read_report(
        report(
            {
                "name": "jinja2",
                "version": "3.1.2",
                "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
            },
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        )
    )
    assert verdict.reachable
    assert verdict.audited == 2
    assert verdict.findings == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"]


def test_every_package_skipped_means_the_service_was_unreachable() -> None:
    verdict = read_report(report({"name": "httpx", "skip_reason": "Dependency not found on PyPI"}))
    assert not verdict.reachable
    assert verdict.findings == []


def test_no_report_at_all_means_the_service_was_unreachable() -> None:
    assert not read_report("").reachable
    assert not read_report("Traceback (most recent call last): ConnectionError").reachable


def test_a_clean_audit_has_no_findings() -> None:
    verdict = read_report(report({"name": "httpx", "version": "0.28.1", "vulns": []}))
    assert verdict.reachable
    assert verdict.findings == []
