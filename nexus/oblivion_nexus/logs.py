"""Logging set-up of ``oblivion nexus`` processes, called from the CLI entry only (never on import).

Text for people, one JSON object a line for log collectors. The handler carries the redaction
filter, so a token in a query string, an ``Authorization`` value or a JWT is hidden in every record
that reaches it, at every level and whichever logger emitted it (uvicorn's and websockets' included).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from oblivion_nexus.observability import AccessTokenRedactor

SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets.server", "websockets.client")
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:  # already rendered (and redacted) by the handler's filter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every record at ``level`` and above to stderr, replacing handlers set up before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(AccessTokenRedactor())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:
        # uvicorn's loggers keep no handlers or level of their own and pass records up to ours.
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.setLevel(logging.NOTSET)
        server_logger.propagate = True
