"""OpenTelemetry tracing of a Nexus process: a tracer that exports over OTLP/HTTP when
``OBLIVION_TRACING_ENDPOINT`` is set, and a no-op one otherwise (its spans record nothing, so tracing
off costs next to nothing).

The provider is the process's own, never OpenTelemetry's global one: several Nexus apps in one
process (tests, ``oblivion dev``) each trace to their own endpoint. Spans follow OpenTelemetry's
semantic conventions; model calls those of generative AI (``gen_ai.*``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oblivion_nexus.settings import TracingSettings

INSTRUMENTATION = "oblivion_nexus"
_PROPAGATOR = TraceContextTextMapPropagator()


@contextlib.contextmanager
def open_tracer(settings: TracingSettings) -> Iterator[trace.Tracer]:
    """The process's tracer until the block ends; spans still buffered are exported at its end."""
    if not settings.endpoint:
        yield trace.NoOpTracer()
        return
    # Imported only when tracing is on: the SDK and its exporter are not needed otherwise.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    exporter = OTLPSpanExporter(endpoint=f"{settings.endpoint.rstrip('/')}/v1/traces", timeout=10)
    # Spans leave within a second (the SDK's default waits five): a task's trace is read while it runs.
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    try:
        yield provider.get_tracer(INSTRUMENTATION)
    finally:
        provider.shutdown()


def caller_context(headers: Mapping[str, str]) -> Context:
    """The trace a caller's ``traceparent`` header continues (an empty context without one)."""
    return _PROPAGATOR.extract(dict(headers))


def is_tracing(tracer: trace.Tracer) -> bool:
    """Whether spans of this tracer are recorded (an endpoint is configured)."""
    return not isinstance(tracer, trace.NoOpTracer)


@contextlib.contextmanager
def task_span(
    tracer: trace.Tracer,
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    parent: Mapping[str, str] | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[trace.Span | None]:
    """A span of a task's trace, current until the block ends: a child of ``parent`` (a carried
    ``traceparent``) when given, else of the current span. With tracing off: nothing at all, ``None``."""
    if not is_tracing(tracer):
        yield None
        return
    context = caller_context(parent) if parent is not None else None
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as span:
        yield span


def current_carrier() -> dict[str, str]:
    """The current span's W3C trace context (``traceparent``, ``tracestate``), to carry onwards:
    in a queued job, in a frame to an agent. Empty when nothing is traced."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


class TraceMiddleware:
    """A server span for each agent call to Nexus (tools, memory, the task's thread and state, MCP),
    in the trace its ``traceparent`` names: an agent working on a task sends the one its
    ``TASK_ASSIGNED`` carried, so these spans join the task's trace. Model calls are traced by the
    model gateway itself. With tracing off a request costs a prefix check and an attribute lookup."""

    PREFIXES = ("/v1/tools", "/v1/memory", "/v1/tasks", "/mcp")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIXES):
            await self.app(scope, receive, send)
            return
        resources = getattr(scope["app"].state, "resources", None)
        tracer = getattr(resources, "tracer", None)
        if tracer is None or not is_tracing(tracer):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        family = "/".join(path.split("/")[:3]) if path.startswith("/v1/") else "/mcp"
        attributes = {"http.request.method": method, "url.path": path}
        task = headers.get("x-oblivion-task-id")
        if task:
            attributes["oblivion.task_id"] = task
        span_name = f"{method} {family}"
        with tracer.start_as_current_span(
            span_name, context=caller_context(headers), kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_noting_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            await self.app(scope, receive, send_noting_status)
