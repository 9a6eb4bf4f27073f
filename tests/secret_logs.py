"""A pytest plugin proving that no secret made during the test run ever reaches a log line.

Tests register every client secret, token and credential value they create with the session fixture
``secret_registry``; ``nexus_env`` registers its admin token, signing key and master key. All log
records of the run are kept (our own packages at DEBUG, everything else at INFO, the level a deployed
process runs at), as are the logs of subprocesses whose files are registered. At the end of the
session each record is searched for each secret, and the run fails naming the leak.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

_OUR_LOGGERS = ("oblivion_nexus", "oblivion_agent", "oblivion_operator", "oblivion_cli", "tests")
# Shorter values would match innocent text by chance; every real secret here is far longer.
_MIN_SECRET_LENGTH = 8


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string must not break the test that logged it
            text = f"{record.msg!r} % {record.args!r}"
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        self.lines.append((record.name, text))


class SecretRegistry:
    """Secrets this run created, and subprocess log files to search for them."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.log_files: list[Path] = []

    def add(self, *values: str) -> None:
        for value in values:
            if len(value) < _MIN_SECRET_LENGTH:
                raise ValueError(f"a registered secret must have ≥ {_MIN_SECRET_LENGTH} characters")
            self.secrets.add(value)

    def add_log_file(self, path: Path) -> None:
        self.log_files.append(path)

    def leaks(self, lines: list[tuple[str, str]]) -> list[str]:
        found = []
        sources = [*lines, *((str(p), p.read_text(errors="replace")) for p in self.log_files if p.exists())]
        for source, text in sources:
            for secret in self.secrets:
                at = text.find(secret)
                if at >= 0:
                    excerpt = text[max(0, at - 80) : at + len(secret) + 80].replace(secret, "[SECRET]")
                    found.append(f"{source}: a registered secret appears in: …{excerpt!r}…")
        return found


@pytest.fixture(scope="session")
def secret_registry() -> SecretRegistry:
    return _REGISTRY


_REGISTRY = SecretRegistry()


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log() -> Iterator[None]:
    capture = _Capture()
    root = logging.getLogger()
    previous_root_level = root.level
    previous = {name: logging.getLogger(name).level for name in _OUR_LOGGERS}
    root.addHandler(capture)
    root.setLevel(min(previous_root_level or logging.INFO, logging.INFO))
    for name in _OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_root_level)
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    leaks = _REGISTRY.leaks(capture.lines)
    if leaks:
        pytest.fail("secrets reached the logs:\n" + "\n".join(leaks[:20]), pytrace=False)
