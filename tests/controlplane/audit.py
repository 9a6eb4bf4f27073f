"""What the operator's ServiceAccount asked the API server, from the server's own audit log.

The session's control plane writes an audit log of every request the operator's identity makes (and
of nothing else; see ``policy_yaml``). Two checks read it, so the ClusterRole in
``operator/deploy/clusterrole.yaml`` is neither too narrow nor too wide:

- after every test that uses the cluster, any request of the operator refused with 403 fails the
  test (a missing verb would otherwise only show up as a kopf error in the log);
- ``tests/integration/operator/test_rbac.py`` drives the operator through every kind of work it
  does and fails when a rule grants a verb that was never used (an excessive grant).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

# A grant or a use: (API group, resource[/subresource], verb), the way RBAC rules name them.
Grant = tuple[str, str, str]


def policy_yaml(username: str) -> str:
    """An audit policy recording every request of ``username`` at Metadata level, nothing else."""
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        # One line per request: the response's stage (or the start of a watch's) carries the status.
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": [username]}, {"level": "None"}],
    }
    return yaml.safe_dump(policy)


def apiserver_args(workdir: pathlib.Path, username: str) -> tuple[tuple[str, ...], pathlib.Path]:
    """The API server's audit flags for ``username``, and the log they write."""
    policy_path = workdir / "audit-policy.yaml"
    policy_path.write_text(policy_yaml(username))
    log_path = workdir / "audit.log"
    args = (
        f"--audit-policy-file={policy_path}",
        f"--audit-log-path={log_path}",
        "--audit-log-format=json",
        # Written before the response is sent, so a test's requests are in the log when it ends.
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=0",
    )
    return args, log_path


@dataclass(frozen=True)
class Request:
    """One audited request: what was asked, and the status it got."""

    grant: Grant
    status: int
    uri: str


def _request_of(event: dict[str, Any]) -> Request | None:
    ref = event.get("objectRef")
    if not ref or "resource" not in ref:
        return None  # a non-resource URL such as /api or /version: not a matter of rules on resources
    resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    status = int(event.get("responseStatus", {}).get("code", 0))
    return Request((ref.get("apiGroup", ""), resource, event["verb"]), status, event.get("requestURI", ""))


class AuditLog:
    """The audit log of one control plane, read from a mark (a byte offset) onwards."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def requests(self, since: int = 0) -> Iterator[Request]:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(since)
            for line in log:
                if not line.endswith(b"\n"):
                    break  # a line still being written: it belongs to the next read
                request = _request_of(json.loads(line))
                if request is not None:
                    yield request

    def refused(self, since: int = 0) -> list[Request]:
        return [request for request in self.requests(since) if request.status == 403]


def granted(clusterrole: pathlib.Path) -> set[Grant]:
    """Every (group, resource, verb) a ClusterRole's rules grant (no wildcards are allowed there)."""
    role = yaml.safe_load(clusterrole.read_text())
    grants: set[Grant] = set()
    for rule in role["rules"]:
        for value in (*rule["apiGroups"], *rule["resources"], *rule["verbs"]):
            if value == "*":
                raise AssertionError(f"{clusterrole} has a wildcard in {rule}: name every grant")
        grants |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return grants


def format_grants(grants: Iterable[Grant]) -> str:
    return "\n".join(f"  {group or 'core'} {resource}: {verb}" for group, resource, verb in sorted(grants))
