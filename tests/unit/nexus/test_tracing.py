"""Tracing off costs nothing: without an endpoint the tracer's spans record nothing and nothing is
exported; a caller's ``traceparent`` is the parent of what Nexus records."""

from __future__ import annotations

from opentelemetry import trace

from oblivion_nexus.settings import TracingSettings
from oblivion_nexus.tracing import caller_context, current_carrier, open_tracer, task_span


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


def test_with_tracing_off_a_task_span_is_nothing_and_carries_nothing() -> None:
    with open_tracer(TracingSettings()) as tracer, task_span(tracer, "send TASK_ASSIGNED") as span:
        assert span is None
        assert current_carrier() == {}


def test_a_task_span_continues_a_carried_trace_and_carries_itself_onwards() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    carried = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    with task_span(tracer, "process clickup webhook", parent=carried) as span:
        assert span is not None
        own = format(span.get_span_context().span_id, "016x")
        onwards = current_carrier()
    assert onwards["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{own}-01"
    assert current_carrier() == {}, "the span is current only inside its block"
