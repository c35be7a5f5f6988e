"""Fixtures: a real SDK TracerProvider whose export processor is wrapped by the enricher."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from tripwire import semconv
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings


class Harness:
    """One provider + exporter + metric reader; ``llm()`` plays a foreign instrumentor."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.processor = EnrichingSpanProcessor(SimpleSpanProcessor(self.exporter),
                                                meter_provider=self.meter_provider)
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)
        self.tracer: Tracer = self.provider.get_tracer("foreign.instrumentor")

    def settings(self, **changes: Any) -> Settings:
        settings = dataclasses.replace(Settings(), **changes)
        set_settings(settings)
        return settings

    def llm(self, model: str = "gpt-4o-mini", *, provider: str | None = "openai",
            operation: str = "chat", response_model: str | None = None, input_tokens: int = 1000,
            output_tokens: int = 100, system: str | None = None, **extra: Any) -> None:
        """A span as any GenAI-semconv instrumentor writes it."""
        attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: operation,
                                 semconv.GEN_AI_REQUEST_MODEL: model}
        if provider:
            attrs[semconv.GEN_AI_PROVIDER_NAME] = provider
        if system:
            attrs[semconv.GEN_AI_SYSTEM] = system
        with self.tracer.start_as_current_span(f"{operation} {model}", kind=SpanKind.CLIENT,
                                               attributes=attrs) as span:
            span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, response_model or model)
            if input_tokens is not None:
                span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, input_tokens)
            if output_tokens is not None:
                span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens)
            for key, value in extra.items():
                span.set_attribute(key, value)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        for p in m.data.data_points:
                            value = p.value if hasattr(p, "value") else (p.sum, p.count)
                            found.append((dict(p.attributes), value))
        return found


@pytest.fixture
def harness() -> Iterator[Harness]:
    set_settings(Settings())
    h = Harness()
    yield h
    h.provider.shutdown()
