"""An AnthropicInstrumentor on in-memory exporters, and a fake Anthropic server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire._core.guard import reset_failure_log
from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.settings import set_settings
from tripwire.testing.anthropic_server import FakeAnthropicServer

API_KEY = "sk-ant-test-SECRET-key-123456"
MODEL = "claude-sonnet-4-5"
SNAPSHOT = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "Tell me about lighthouses"}]
ARGS: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}


@dataclass
class Env:
    server: FakeAnthropicServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    instrumentor: AnthropicInstrumentor

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        return self.server.client(**kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        return self.server.async_client(**kwargs)

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out


def all_values(span: ReadableSpan) -> str:
    """Every attribute and event value of a span, as one string (for secret checks)."""
    parts = [json.dumps(dict(span.attributes or {}), default=str)]
    parts += [json.dumps(dict(e.attributes or {}), default=str) for e in span.events]
    return " ".join(parts)


@pytest.fixture
def env() -> Iterator[Env]:
    set_settings(None)
    reset_failure_log()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    server = FakeAnthropicServer().start()
    try:
        yield Env(server, exporter, reader, tracer_provider, instrumentor)
    finally:
        instrumentor.uninstrument()
        server.stop()
        set_settings(None)
