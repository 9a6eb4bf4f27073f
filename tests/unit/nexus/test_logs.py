"""Log set-up of Nexus processes: JSON lines for collectors, access tokens redacted on every path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from oblivion_nexus.logs import JsonFormatter, configure_logging


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_formatter_writes_one_object_with_the_message() -> None:
    record = logging.LogRecord("oblivion_nexus.x", logging.WARNING, __file__, 1, "hello %s", ("agent",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello agent"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "oblivion_nexus.x"


def test_configured_handler_redacts_access_tokens_from_any_logger(
    restored_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("uvicorn.error").info('"GET /v1/agents/connect?access_token=eyJhbGciOi.abc.def" 101')
    logging.getLogger("anything.else").info("url %s", "/x?access_token=eyJsecret&y=1")
    err = capsys.readouterr().err
    assert "eyJhbGciOi" not in err
    assert "eyJsecret" not in err
    assert err.count("access_token=[REDACTED]") == 2
    assert all(json.loads(line) for line in err.splitlines())


def test_configure_logging_sets_the_level(restored_root: None) -> None:
    configure_logging("warning", "text")
    assert logging.getLogger().level == logging.WARNING
