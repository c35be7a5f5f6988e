"""A minimal OTLP/HTTP receiver on 127.0.0.1 that decodes ExportTraceServiceRequest."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


class OTLPReceiver:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metric_names: set[str] = set()
        # (name, attributes, value) of every sum data point received (counters)
        self.sum_points: list[tuple[str, dict[str, Any], float]] = []
        self.got_metrics = threading.Event()
        self.got_spans = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/v1/traces"):
                    receiver._traces(body)
                elif self.path.endswith("/v1/metrics"):
                    receiver._metrics(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.spans.append({
                        "name": span.name,
                        "scope": ss.scope.name,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "events": [e.name for e in span.events],
                        "resource": {a.key: _value(a.value) for a in rs.resource.attributes},
                    })
        self.got_spans.set()

    def _metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                self.metric_names.update(m.name for m in sm.metrics)
                for metric in sm.metrics:
                    if metric.WhichOneof("data") == "sum":
                        for point in metric.sum.data_points:
                            value = (point.as_double if point.WhichOneof("value") == "as_double"
                                     else point.as_int)
                            self.sum_points.append((metric.name, {
                                a.key: _value(a.value) for a in point.attributes}, value))
        self.got_metrics.set()

    def metric_sum(self, name: str) -> float:
        """The sum of the last-exported values of a cumulative counter, over its series."""
        last: dict[tuple[Any, ...], float] = {}
        for metric, attrs, value in self.sum_points:
            if metric == name:
                last[tuple(sorted(attrs.items()))] = value
        return sum(last.values())

    def __enter__(self) -> OTLPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
