"""The processors' counters: summed in process, reported by ObservableCounter callbacks.

Bounded per counter and meter provider (overflow series past the bound, warned once), one
set per meter provider however many processors use it, and each provider reports only what
was recorded through it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire.processors import EnrichingSpanProcessor
from tripwire.processors import metrics as metrics_module
from tripwire.processors.metrics import (
    OVERFLOW_ATTRIBUTES,
    SummingCounter,
)
from tripwire.runtime import get_runtime

from .conftest import Harness


def _points(reader: InMemoryMetricReader, metric: str) -> list[tuple[dict[str, Any], Any]]:
    data = reader.get_metrics_data()
    return [(dict(p.attributes), p.value)
            for rm in (data.resource_metrics if data else ())
            for sm in rm.scope_metrics for m in sm.metrics if m.name == metric
            for p in m.data.data_points]


def _chat(tracer: Any, model: str, input_tokens: int = 1000, output_tokens: int = 100) -> None:
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: model, semconv.GEN_AI_RESPONSE_MODEL: model,
            semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens}):
        pass


def test_cost_counter_is_a_monotonic_cumulative_sum(harness: Harness) -> None:
    harness.llm("gpt-4o")
    harness.llm("gpt-4o")
    harness.llm("gpt-4o-mini")
    data = harness.reader.get_metrics_data()
    [metric] = [m for rm in data.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == semconv.METRIC_COST]
    assert metric.unit == "USD"
    assert metric.description == "Cost of GenAI operations in US dollars"
    assert metric.data.is_monotonic
    by_model = {p.attributes[semconv.GEN_AI_REQUEST_MODEL]: p.value
                for p in metric.data.data_points}
    assert by_model["gpt-4o"] == pytest.approx(2 * 0.0035)
    assert by_model["gpt-4o-mini"] == pytest.approx(0.00021)
    # the attribute set is the semconv one, nothing else
    assert {frozenset(p.attributes) for p in metric.data.data_points} == {frozenset({
        semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_OPERATION_NAME,
        semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL})}
    # cumulative: a second collection reports the same totals, not zero
    assert dict((a[semconv.GEN_AI_REQUEST_MODEL], v) for a, v in
                harness.points(semconv.METRIC_COST)) == pytest.approx(by_model)


def test_table_is_bounded_and_overflow_keeps_the_total(caplog: pytest.LogCaptureFixture) -> None:
    counter = SummingCounter("tripwire.cost", max_series=3)
    with caplog.at_level(logging.WARNING, logger="tripwire"):
        for i in range(10):
            counter.add(1.0, {"gen_ai.request.model": f"m{i}"})
        counter.add(2.0, {"gen_ai.request.model": "m0"})  # a known set still adds to itself
    points = {tuple(sorted(o.attributes.items())): o.value for o in counter.observe()}
    assert len(counter) == 4  # three attribute sets and the overflow series
    assert points[(("gen_ai.request.model", "m0"),)] == 3.0
    assert points[tuple(OVERFLOW_ATTRIBUTES.items())] == 7.0
    assert sum(points.values()) == 12.0
    warnings = [r for r in caplog.records if "otel.metric.overflow" in r.getMessage()]
    assert len(warnings) == 1  # once per counter


def test_invalid_amounts_are_ignored_as_the_sdk_does() -> None:
    counter = SummingCounter("tripwire.refusals")
    counter.add(-1, {"a": "b"})
    counter.add(float("nan"), {"a": "b"})
    counter.add(float("inf"), {"a": "b"})
    counter.add(1, {"a": "b", "list": ["x", "y"]})  # unhashable values are fine
    assert [(o.value, dict(o.attributes)) for o in counter.observe()] == [
        (1, {"a": "b", "list": ["x", "y"]})]


def test_processors_on_one_meter_provider_share_one_table() -> None:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    exporters = [InMemorySpanExporter(), InMemorySpanExporter()]
    tracer_provider = TracerProvider()
    for exporter in exporters:  # one processor per exporter, as with two exporters configured
        tracer_provider.add_span_processor(EnrichingSpanProcessor(
            SimpleSpanProcessor(exporter), meter_provider=meter_provider))
    registry = get_runtime().instruments
    assert registry.for_provider(meter_provider) is registry.for_provider(meter_provider)
    tracer = tracer_provider.get_tracer("t")
    _chat(tracer, "gpt-4o")
    _chat(tracer, "gpt-4o")
    tracer_provider.shutdown()
    assert all(len(e.get_finished_spans()) == 2 for e in exporters)
    [(_, value)] = _points(reader, semconv.METRIC_COST)
    assert value == pytest.approx(2 * 0.0035)  # counted once, reported once


def test_each_meter_provider_reports_its_own_counts() -> None:
    pipelines = []
    for _ in range(2):
        reader = InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(EnrichingSpanProcessor(
            SimpleSpanProcessor(InMemorySpanExporter()),
            meter_provider=MeterProvider(metric_readers=[reader])))
        pipelines.append((tracer_provider, reader))
    _chat(pipelines[0][0].get_tracer("t"), "gpt-4o")
    for _ in range(3):
        _chat(pipelines[1][0].get_tracer("t"), "gpt-4o-mini")
    first = _points(pipelines[0][1], semconv.METRIC_COST)
    second = _points(pipelines[1][1], semconv.METRIC_COST)
    assert [(a[semconv.GEN_AI_REQUEST_MODEL], v) for a, v in first] == [
        ("gpt-4o", pytest.approx(0.0035))]
    assert [(a[semconv.GEN_AI_REQUEST_MODEL], v) for a, v in second] == [
        ("gpt-4o-mini", pytest.approx(3 * 0.00021))]
    for tracer_provider, _ in pipelines:
        tracer_provider.shutdown()


def test_without_a_meter_provider_the_global_one_is_followed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    real = MeterProvider(metric_readers=[reader])
    current: list[Any] = [NoOpMeterProvider()]
    monkeypatch.setattr(metrics_module, "get_meter_provider", lambda: current[0])
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(EnrichingSpanProcessor(
        SimpleSpanProcessor(InMemorySpanExporter())))
    tracer = tracer_provider.get_tracer("t")
    _chat(tracer, "gpt-4o")  # before the application sets its provider: not reported there
    current[0] = real
    registry = get_runtime().instruments
    assert registry.of_global() is registry.for_provider(real)
    _chat(tracer, "gpt-4o")
    [(_, value)] = _points(reader, semconv.METRIC_COST)
    assert value == pytest.approx(0.0035)
    tracer_provider.shutdown()
