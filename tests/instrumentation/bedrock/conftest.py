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
from tripwire.instrumentation.bedrock import BedrockInstrumentor
from tripwire.settings import set_settings
from tripwire.testing.bedrock_server import FakeBedrockServer

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
# The dummy credentials the clients sign with; none of them may reach telemetry.
ACCESS_KEY = "AKIATRIPWIRETESTKEY01"
SECRET_KEY = "tripwire/SECRET/access+key0123456789abcd"
SESSION_TOKEN = "tripwire-SESSION-token-0123456789"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, "Signature=", "Credential=", "AWS4-HMAC")


@dataclass
class Env:
    server: FakeBedrockServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    instrumentor: BedrockInstrumentor

    def client(self, max_attempts: int = 1, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime", endpoint_url=self.server.url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            aws_session_token=SESSION_TOKEN,
            config=Config(retries={"total_max_attempts": max_attempts, "mode": "standard"},
                          **config))

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
    """Every attribute and event attribute of a span, as one string."""
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
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    server = FakeBedrockServer().start()
    try:
        yield Env(server, exporter, reader, tracer_provider, meter_provider, instrumentor)
    finally:
        instrumentor.uninstrument()
        server.stop()
        set_settings(None)
