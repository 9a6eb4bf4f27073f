"""Tracing off costs nothing: without an endpoint the tracer's spans record nothing and nothing is
exported; a caller's ``traceparent`` is the parent of what Nexus records."""

from __future__ import annotations

from opentelemetry import trace

from oblivion_nexus.settings import TracingSettings
from oblivion_nexus.tracing import caller_context, open_tracer


def test_without_an_endpoint_spans_record_nothing() -> None:
    with open_tracer(TracingSettings()) as tracer:
        span = tracer.start_span("chat gpt-4o-mini")
        assert not span.is_recording()
        span.end()


def test_a_callers_traceparent_becomes_the_parent() -> None:
    context = caller_context({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    parent = trace.get_current_span(context).get_span_context()
    assert format(parent.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(parent.span_id, "016x") == "b7ad6b7169203331"
    assert not trace.get_current_span(caller_context({})).get_span_context().is_valid
