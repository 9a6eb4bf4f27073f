"""Unauthenticated memory exhaustion: a 200 MB body to each route family of a real
``oblivion nexus serve`` must be refused with 413 while it is read, and the server's peak memory must
stay flat (measured from ``/proc/<pid>/status``, VmHWM: the most resident memory the process ever had).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.shared_nexus import security_env, security_nexus
from tests.support.nexus import NexusProcess

ATTACK_BYTES = 200 * 1024 * 1024
_CHUNK = b"x" * (1024 * 1024)
# Start-up leaves a Nexus at ~100-150 MB; reading one 200 MB body whole adds at least 200 MB.
# 64 MB of growth is room for allocator noise and nowhere near one attack body.
RSS_GROWTH_BOUND_BYTES = 64 * 1024 * 1024

FAMILIES = {
    "agents": ("POST", "/v1/tasks/x/messages", {"Content-Type": "application/json"}),
    "models": ("POST", "/v1/llm/chat/completions", {"Content-Type": "application/json"}),
    "registry": (
        "PUT",
        "/internal/v1/workgroups/rival",
        {"Content-Type": "application/json", "Authorization": "Bearer wrong-token-of-an-attacker"},
    ),
    "token": ("POST", "/oauth/token", {"Content-Type": "application/x-www-form-urlencoded"}),
    "webhooks": ("POST", "/webhooks/slack", {"Content-Type": "application/json"}),
}

# The model gateway checks the token before it reads the body, so an anonymous body is never read.
STREAMED_ANSWER = {"models": 401}


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


@dataclass
class Outcome:
    status: int | None
    bytes_sent: int
    response_head: bytes


def send_huge_body(url: str, method: str, path: str, headers: dict[str, str], *, chunked: bool) -> Outcome:
    """Stream ``ATTACK_BYTES`` to ``path`` on a raw socket (chunked, or with a Content-Length) while a
    second thread reads the answer; stop when the body is sent or the server closes the connection."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {ATTACK_BYTES}")
    received = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while b"\r\n\r\n" not in received:
                data = sock.recv(65536)
                if not data:
                    break
                received.extend(data)
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < ATTACK_BYTES:
            frame = b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK) if chunked else _CHUNK
            sock.sendall(frame)
            sent += len(_CHUNK)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server hung up on the attack: what it should do
    answered.wait(30)
    sock.close()
    status_line = bytes(received).split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else None
    return Outcome(status=status, bytes_sent=sent, response_head=bytes(received[:400]))


@pytest.fixture(scope="module")
def nexus(postgres_url: str, redis_url: str, secret_registry: Any) -> Iterator[NexusProcess]:
    # Module-scoped on purpose: peak memory is the process's whole-life high-water mark, so every
    # attack in this module runs against the same process and each checks its own growth.
    with security_nexus(security_env(postgres_url, redis_url, secret_registry), secret_registry) as proc:
        httpx.get(proc.url + "/healthz", timeout=5).raise_for_status()
        yield proc


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_200_mb_streamed_body_is_refused_with_413_and_memory_stays_flat(
    nexus: NexusProcess, family: str
) -> None:
    method, path, headers = FAMILIES[family]
    before = peak_rss_bytes(nexus.process.pid)
    outcome = send_huge_body(nexus.url, method, path, headers, chunked=True)
    after = peak_rss_bytes(nexus.process.pid)
    assert after - before < RSS_GROWTH_BOUND_BYTES, (
        f"{family}: peak RSS grew by {(after - before) / 2**20:.0f} MiB "
        f"({before / 2**20:.0f} -> {after / 2**20:.0f} MiB) after {outcome.bytes_sent / 2**20:.0f} MiB sent"
    )
    expected = STREAMED_ANSWER.get(family, 413)
    assert outcome.status == expected, f"{family}: expected {expected}, got {outcome.response_head!r}"
    assert nexus.process.poll() is None
    assert httpx.get(nexus.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_declared_200_mb_body_is_refused_before_it_is_read(nexus: NexusProcess, family: str) -> None:
    method, path, headers = FAMILIES[family]
    before = peak_rss_bytes(nexus.process.pid)
    outcome = send_huge_body(nexus.url, method, path, headers, chunked=False)
    after = peak_rss_bytes(nexus.process.pid)
    assert outcome.status == 413, f"{family}: expected 413, got {outcome.response_head!r}"
    assert b"x-oblivion-max-body-bytes" in outcome.response_head.lower()
    assert after - before < RSS_GROWTH_BOUND_BYTES


def test_a_body_within_the_limit_still_reaches_the_route(nexus: NexusProcess) -> None:
    answer = httpx.post(
        nexus.url + "/oauth/token",
        content=b"grant_type=client_credentials&client_id=nobody&client_secret=" + b"s" * 2000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
