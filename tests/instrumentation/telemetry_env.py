"""What every instrumentor's test environment shares: in-memory span and metric pipelines,
the instrumentor installed on them, and readers for what they recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.runtime import set_settings
from tripwire.settings import Settings


class SpanQueries:
    """Reads of what an in-memory span exporter and metric reader hold (``exporter`` and
    ``reader`` are the subclass's fields)."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def parent_name(self, span: ReadableSpan) -> str | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.spans()}
        parent = by_id.get(span.parent.span_id)
        return parent.name if parent is not None else None

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out


@dataclass
class TelemetryEnv(SpanQueries):
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    instrumentor: Any


def all_values(span: ReadableSpan) -> str:
    """Every attribute and event attribute of a span as one string (for leak checks)."""
    parts = [json.dumps(dict(span.attributes or {}), default=str)]
    parts += [json.dumps(dict(e.attributes or {}), default=str) for e in span.events]
    return " ".join(parts)


def redacted_content_events(span: ReadableSpan, secret: str = "jane@example.com") -> list[Any]:
    """The content events of a call made with ``EVENT_ONLY`` capture and email redaction:
    checked to be the request's then the response's, off the span, and free of ``secret``."""
    from tripwire import semconv as sc

    assert sc.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})
    events = [e for e in span.events if e.name == sc.EVENT_GEN_AI_CLIENT_INFERENCE_DETAILS]
    assert len(events) == 2  # request content, then response content
    assert "[REDACTED:email]" in events[0].attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert secret not in all_values(span)
    return events


@contextmanager
def instrumented(instrumentor_class: type) -> Iterator[dict[str, Any]]:
    """Default settings, fresh pipelines, ``instrumentor_class`` installed on them; yields
    the :class:`TelemetryEnv` fields, and uninstruments afterwards (tests/conftest.py resets
    everything else)."""
    set_settings(None)  # the environment's settings, not an earlier fixture's
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = instrumentor_class()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield {"exporter": exporter, "reader": reader, "tracer_provider": tracer_provider,
               "meter_provider": meter_provider, "instrumentor": instrumentor}
    finally:
        instrumentor.uninstrument()


@contextmanager
def enriched_pipeline(instrumentor_class: type) -> Iterator[InMemorySpanExporter]:
    """Default settings; ``instrumentor_class`` installed on a provider whose spans go
    through ``EnrichingSpanProcessor`` to the yielded exporter. Uninstrumented and shut down
    afterwards; tests/conftest.py resets the state and the budget gate."""
    from tripwire.processors import EnrichingSpanProcessor

    set_settings(Settings())
    exporter = InMemorySpanExporter()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                                       meter_provider=meter_provider))
    instrumentor = instrumentor_class()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@contextmanager
def enriched_with_server(settings: Settings, instrumentors: list[Any]
                         ) -> Iterator[tuple[Any, InMemorySpanExporter, InMemoryMetricReader]]:
    """``settings`` in force, ``instrumentors`` installed on a provider whose spans go through
    ``EnrichingSpanProcessor`` (its metrics to an in-memory reader), and a fake OpenAI server;
    yields (server, exporter, reader) and undoes it all afterwards."""
    from tripwire.processors import EnrichingSpanProcessor
    from tripwire.testing import FakeOpenAIServer

    set_settings(settings)
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                                       meter_provider=meter_provider))
    for inst in instrumentors:
        inst.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield server, exporter, reader
    finally:
        for inst in instrumentors:
            inst.uninstrument()
        provider.shutdown()
