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
