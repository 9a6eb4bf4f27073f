"""A fake OpenTelemetry receiver on a loopback port: ``POST /v1/traces`` with OTLP/HTTP's protobuf body,
as Jaeger, Tempo or a Collector take it; every span received is kept, decoded, for a test to read."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import LoopbackServer


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    span_id: str = ""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class FakeOtlpReceiver:
    spans: list[ReceivedSpan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        self._server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return self._server.base_url

    def __enter__(self) -> FakeOtlpReceiver:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    async def _traces(self, request: Request) -> Response:
        if request.headers.get("content-type") != "application/x-protobuf":
            return Response(status_code=415)
        export = ExportTraceServiceRequest.FromString(await request.body())
        spans = []
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                            span_id=span.span_id.hex(),
                        )
                    )
        with self._lock:
            self.spans.extend(spans)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")
