"""What a running Nexus tells its operators: Prometheus metrics and a log filter that hides tokens.

The metrics live in a ``CollectorRegistry`` made per app (never the process-global one), so several
Nexus apps in one process — tests, the benchmark — count separately. The log filter exists because
uvicorn logs every WebSocket handshake with its query string, and an agent that cannot set headers
sends its access token there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

# Queue → send latency is normally milliseconds; the long tail covers agents that were offline.
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    30.0,
    300.0,
    3600.0,
)


class DeliveryMetrics:
    """Counters of the agent gateway; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.connections = Gauge(
            "oblivion_agent_connections", "Agent WebSocket connections open on this process.",
            registry=self.registry,
        )  # fmt: skip
        self.queued = Counter(
            "oblivion_events_queued",
            "Events queued into agent inboxes by this process.",
            registry=self.registry,
        )
        self.delivered = Counter(
            "oblivion_events_delivered",
            "Event frames sent to agents by this process (redeliveries included).",
            registry=self.registry,
        )
        self.acked = Counter(
            "oblivion_events_acked",
            "Events acked by agents connected to this process.",
            registry=self.registry,
        )
        self.expired = Counter(
            "oblivion_events_expired",
            "Unacked events dropped by this process because they outlived the inbox TTL.",
            registry=self.registry,
        )
        self.rejected_frames = Counter(
            "oblivion_agent_frames_rejected",
            "Malformed or unexpected frames received from agents.",
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "oblivion_event_delivery_latency_seconds",
            "Time from queueing an event to sending it to an agent.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )


_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[REDACTED]"


def redact_access_tokens(text: str) -> str:
    """Replace the value of every ``access_token=`` query parameter in ``text``."""
    return _TOKEN_IN_TEXT.sub(r"\g<1>" + REDACTED, text)


class AccessTokenRedactor(logging.Filter):
    """Rewrites log records so an ``access_token`` query parameter never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "access_token" in record.msg.lower():
            record.msg = redact_access_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_access_tokens(a) if isinstance(a, str) and "access_token" in a.lower() else a
                for a in record.args
            )
        return True


# uvicorn logs WebSocket handshakes on "uvicorn.error" and HTTP requests on "uvicorn.access"; a
# filter on a logger only sees records logged on that very logger, so each one gets it.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def access_tokens_redacted() -> Iterator[None]:
    """While active, the server's loggers drop ``access_token`` values from every record."""
    redactor = AccessTokenRedactor()
    loggers = [logging.getLogger(name) for name in _SERVER_LOGGERS]
    for server_logger in loggers:
        server_logger.addFilter(redactor)
    try:
        yield
    finally:
        for server_logger in loggers:
            server_logger.removeFilter(redactor)
