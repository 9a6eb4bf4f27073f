"""Log set-up of Nexus processes: JSON lines for collectors, access tokens redacted on every path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from oblivion_nexus.logs import SERVER_LOGGERS, JsonFormatter, configure_logging


@pytest.fixture
def restored_root() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the tests that follow."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in SERVER_LOGGERS)]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def test_json_formatter_writes_one_object_with_the_message() -> None:
    record = logging.LogRecord("oblivion_nexus.x", logging.WARNING, __file__, 1, "hello %s", ("agent",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello agent"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "oblivion_nexus.x"


def test_configured_handler_redacts_access_tokens_from_any_logger(
    restored_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # as a uvicorn.Config(log_level=…) leaves it
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
