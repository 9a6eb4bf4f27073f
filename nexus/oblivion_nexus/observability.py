"""What a running Nexus tells its operators: Prometheus metrics and a log filter that hides tokens.

The metrics live in a ``CollectorRegistry`` made per app (never the process-global one), so several
Nexus apps in one process — tests, the benchmark — count separately. The log filter exists because
uvicorn logs every WebSocket handshake with its query string, and an agent that cannot set headers
sends its access token there.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


class ModelMetrics:
    """Counters of the model gateway, registered in the app's registry beside the delivery metrics.

    Labelled by workgroup, agent and model: a few dozen agents with one model each stay a few
    dozen series. :meth:`of` gives the one set of a registry (an app and a worker of ``oblivion dev``
    share theirs).
    """

    _of_registry: weakref.WeakKeyDictionary[CollectorRegistry, ModelMetrics] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, registry: CollectorRegistry) -> ModelMetrics:
        metrics = cls._of_registry.get(registry)
        if metrics is None:
            metrics = cls._of_registry[registry] = cls(registry)
        return metrics

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("workgroup", "agent", "model")
        self.tokens = Counter(
            "oblivion_model_tokens",
            "Tokens of model calls through the gateway, as the upstream counted them (kind: prompt or "
            "completion).",
            (*labels, "kind"),
            registry=registry,
        )
        self.cost = Counter(
            "oblivion_model_cost_usd",
            "US$ spent on model calls through the gateway, from the price table (unpriced models add 0).",
            labels,
            registry=registry,
        )
        self.calls = Counter(
            "oblivion_model_calls",
            "Model calls through the gateway by outcome: ok, upstream_error, rate_limited, "
            "over_budget, refused.",
            (*labels, "outcome"),
            registry=registry,
        )


REDACTED = "[REDACTED]"

# A token in a query string or a form: ``?access_token=…``, ``&token=…``, ``client_secret=…``.
_SECRET_PARAMETER = re.compile(
    r"(?<![A-Za-z0-9_])((?:access_token|refresh_token|id_token|token|client_secret)=)[^&\s\"'<>]*",
    re.IGNORECASE,
)
# An Authorization header however it is printed: ``authorization: Bearer …`` (websockets at DEBUG),
# ``(b'authorization', b'Basic …')`` (an ASGI scope), ``"Authorization": "…"`` (a dict).
_AUTHORIZATION = re.compile(
    r"((?:proxy-)?authorization['\"]?\s*[:=,]\s*(?:b?['\"])?)((?:bearer|basic|token)\s+)?[^\s'\",;)}\]]+",
    re.IGNORECASE,
)
# A JWT anywhere (three base64url parts, the first being the encoded ``{"`` every header starts with).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact_secrets(text: str) -> str:
    """``text`` with token parameters, Authorization values and JWTs replaced by ``[REDACTED]``."""
    text = _SECRET_PARAMETER.sub(r"\g<1>" + REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + (m.group(2) or "") + REDACTED, text)
    return _JWT.sub(REDACTED, text)


# The earlier, narrower name; every caller now gets the full redaction.
redact_access_tokens = redact_secrets


def _redacted_args(args: object) -> Any:
    if isinstance(args, tuple):
        return tuple(redact_secrets(a) if isinstance(a, str) else a for a in args)
    return args


class AccessTokenRedactor(logging.Filter):
    """Rewrites log records so no token or Authorization value reaches a handler, at any level.

    Arguments are redacted one by one first, so a formatter that reads ``record.args`` (uvicorn's
    access formatter does) keeps working; when a secret only shows once the message is rendered (a
    header name in one argument, its value in the next), the record is replaced by its redacted text.
    An exception's text is rendered and redacted too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except Exception:  # a broken format string: keep it, but no argument goes out unredacted
            record.args = _redacted_args(record.args)
            return True
        redacted = redact_secrets(rendered)
        if redacted != rendered:
            # The message itself is never rewritten while it still has arguments: a redaction
            # inside ``%s`` placeholders' text would leave the arguments miscounted.
            record.args = _redacted_args(record.args)
            try:
                still_leaks = record.getMessage() != redacted
            except Exception:
                still_leaks = True
            if still_leaks:
                record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        return True


# uvicorn logs WebSocket handshakes (and, at DEBUG, every header through the websockets library) on
# "uvicorn.error" and HTTP requests on "uvicorn.access"; websockets' own loggers serve clients. A
# filter on a logger only sees records logged on that very logger, so each one gets it.
_SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "websockets",
    "websockets.server",
    "websockets.client",
)


@contextmanager
def access_tokens_redacted() -> Iterator[None]:
    """While active, the server's loggers drop tokens and Authorization values from every record."""
    redactor = AccessTokenRedactor()
    loggers = [logging.getLogger(name) for name in _SERVER_LOGGERS]
    for server_logger in loggers:
        server_logger.addFilter(redactor)
    try:
        yield
    finally:
        for server_logger in loggers:
            server_logger.removeFilter(redactor)
