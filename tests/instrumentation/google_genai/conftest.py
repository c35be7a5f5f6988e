from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire._core.guard import reset_failure_log
from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
from tripwire.settings import set_settings
from tripwire.testing.gemini_server import FakeGeminiServer

API_KEY = "AIza-test-SECRET-key-0123456789"
GOOGLE_ENV = ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY", "GEMINI_API_KEY",
              "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION")


@dataclass
class Env:
    server: FakeGeminiServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    instrumentor: GoogleGenAIInstrumentor
    # google-genai closes its HTTP client when the Client is collected, and a stream holds
    # only client.models: the clients live as long as the test.
    clients: list[Any] = field(default_factory=list)

    def client(self, *, vertexai: bool = False, **http_options: Any) -> Any:
        client = self.server.client(vertexai=vertexai, api_key=API_KEY, **http_options)
        self.clients.append(client)
        return client

    def aio(self, *, vertexai: bool = False) -> Any:
        return self.client(vertexai=vertexai).aio

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
    """Every attribute and event attribute of a span as one string (for leak checks)."""
    parts = [json.dumps(dict(span.attributes or {}), default=str)]
    parts += [json.dumps(dict(e.attributes or {}), default=str) for e in span.events]
    return " ".join(parts)


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # These switch the client's mode (Vertex AI, project, key); tests choose explicitly.
    for var in GOOGLE_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def env() -> Iterator[Env]:
    set_settings(None)
    reset_failure_log()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    server = FakeGeminiServer().start()
    try:
        yield Env(server, exporter, reader, tracer_provider, meter_provider, instrumentor)
    finally:
        instrumentor.uninstrument()
        server.stop()
        set_settings(None)
