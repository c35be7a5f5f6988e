"""Accounting does not depend on sampling (issue 14): whatever the head sampler decides, every
call tripwire's instrumentors see is costed, counted in ``tripwire.*`` metrics and charged to
budgets; what is exported still follows the sampler.

Real openai SDK against the fake server, real SDK TracerProvider / samplers / metric reader.
Expected costs come from genai-prices directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire.errors import BudgetExceededError
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.sampling import GenAIRecordingSampler
from tripwire.settings import BudgetMode
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

# (input, output) tokens of each call: every call costs something different.
USAGES = [(1000 + 37 * i, 20 + 3 * i) for i in range(20)]
SAMPLERS: dict[str, Sampler] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "traceidratio_0": TraceIdRatioBased(0.0),
    "traceidratio_0.1": TraceIdRatioBased(0.1),
    "parentbased_traceidratio_0.1": ParentBasedTraceIdRatio(0.1),
}


def _price(model: str, inp: int, out: int) -> float:
    return float(calc_price(Usage(input_tokens=inp, output_tokens=out), model,
                            provider_id="openai").total_price)


@dataclass
class Pipeline:
    provider: TracerProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    server: FakeOpenAIServer
    processor: EnrichingSpanProcessor | None

    def metric_sum(self, name: str, **match: Any) -> float:
        data = self.reader.get_metrics_data()
        total = 0.0
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attrs = dict(point.attributes)
                        if all(attrs.get(k) == v for k, v in match.items()):
                            total += point.value
        return total

    def requests(self, model: str = "gpt-4o-mini") -> float:
        """Each usage in its own request (a root span, as a web framework would make); the
        sum of the calls' real costs."""
        client = self.server.client()
        tracer = self.provider.get_tracer("app")
        expected = 0.0
        for inp, out in USAGES:
            self.server.enqueue(chat_reply(content="ok", usage=(inp, out)))
            with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
                reply = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}])
            expected += _price(reply.model, inp, out)
        return expected


def _pipeline(sampler: Sampler, *, processor: bool = True) -> Iterator[Pipeline]:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider(sampler=sampler)
    enricher = None
    if processor:
        enricher = EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                          meter_provider=meter_provider)
        provider.add_span_processor(enricher)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield Pipeline(provider, exporter, reader, server, enricher)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.fixture(params=list(SAMPLERS), ids=list(SAMPLERS))
def pipeline(request: pytest.FixtureRequest, default_settings: Any) -> Iterator[Pipeline]:
    yield from _pipeline(SAMPLERS[request.param])


def test_cost_metric_sums_every_call_whatever_the_sampler(pipeline: Pipeline) -> None:
    expected = pipeline.requests()
    assert pipeline.metric_sum(semconv.METRIC_COST) == pytest.approx(expected, rel=1e-9)
    # What is exported still follows the sampler: every call, none, or some.
    exported = [s for s in pipeline.exporter.get_finished_spans()
                if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"]
    sampled = pipeline.provider.sampler is ALWAYS_ON
    assert (len(exported) == len(USAGES)) if sampled else (len(exported) < len(USAGES))
    for span in exported:  # an exported span is enriched as before
        assert span.attributes[semconv.TRIPWIRE_COST_USD] > 0


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_a_budget_trips_on_the_same_call_whatever_the_sampler(sampler: str, use_settings) -> None:
    """Enforce mode, a global budget: the call refused is the one always_on refuses (the
    eighth: the first seven cost just over the limit)."""
    limit = sum(_price("gpt-4o-mini-2024-07-18", i, o) for i, o in USAGES[:7]) * 0.999
    refused = -1
    for pipeline in _pipeline(SAMPLERS[sampler]):
        use_settings(budget_mode=BudgetMode.ENFORCE, budget_output_estimate=1)
        with _global_budget(limit):
            client = pipeline.server.client()
            for index, (inp, out) in enumerate(USAGES):
                pipeline.server.enqueue(chat_reply(content="ok", usage=(inp, out)))
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                except BudgetExceededError:
                    refused = index
                    break
    assert refused == 7


class _global_budget:
    """A process-wide budget file for the block."""

    def __init__(self, usd: float) -> None:
        self.usd = usd

    def __enter__(self) -> None:
        import tempfile

        from tripwire.runtime import replace_settings

        self._file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"budgets": [{"name": "all", "scope": "global", "usd": self.usd}]},
                  self._file)
        self._file.close()
        replace_settings(budgets_file=self._file.name)

    def __exit__(self, *exc: object) -> None:
        import os

        os.unlink(self._file.name)


def test_flag_mode_counts_the_same_violations_whatever_the_sampler(use_settings) -> None:
    counts = {}
    for name in ("always_on", "traceidratio_0", "always_off"):
        for pipeline in _pipeline(SAMPLERS[name]):
            use_settings()
            limit = sum(_price("gpt-4o-mini-2024-07-18", i, o) for i, o in USAGES[:5])
            with _global_budget(limit * 0.999):
                pipeline.requests()
            counts[name] = pipeline.metric_sum(semconv.METRIC_BUDGET_VIOLATIONS)
        from tripwire.testing import reset

        reset()
    assert counts == {"always_on": 1, "traceidratio_0": 1, "always_off": 1}


def test_refusals_are_counted_when_the_span_is_not_sampled(default_settings) -> None:
    for pipeline in _pipeline(ALWAYS_OFF):
        client = pipeline.server.client()
        pipeline.server.enqueue(chat_reply(refusal="I can't help with that.", usage=(50, 0)),
                                chat_reply(finish_reason="content_filter", usage=(50, 0)),
                                chat_reply(content="fine", usage=(50, 5)))
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "x"}])
        assert pipeline.exporter.get_finished_spans() == ()
        assert pipeline.metric_sum(semconv.METRIC_REFUSALS) == 2


def test_foreign_spans_dropped_by_the_sampler_are_seen_through_the_wrapper(
        default_settings) -> None:
    """Another instrumentor's spans: only the sampler wrapper lets the processor see them."""
    for wrapped, seen in ((False, 0.0), (True, _price("gpt-4o", 1000, 100) * 3)):
        exporter = InMemorySpanExporter()
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        sampler: Sampler = TraceIdRatioBased(0.0)
        provider = TracerProvider(sampler=GenAIRecordingSampler(sampler) if wrapped else sampler)
        provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                                           meter_provider=meter_provider))
        tracer = provider.get_tracer("foreign.instrumentor")
        for _ in range(3):
            with tracer.start_as_current_span("POST /x", kind=SpanKind.SERVER), \
                    tracer.start_as_current_span(
                        "chat gpt-4o", kind=SpanKind.CLIENT,
                        attributes={semconv.GEN_AI_OPERATION_NAME: "chat",
                                    semconv.GEN_AI_PROVIDER_NAME: "openai",
                                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"}) as span:
                span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 1000)
                span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 100)
        assert exporter.get_finished_spans() == ()  # exports follow the sampler either way
        pipe = Pipeline(provider, exporter, reader, None, None)  # type: ignore[arg-type]
        assert pipe.metric_sum(semconv.METRIC_COST) == pytest.approx(seen)
        provider.shutdown()


def test_the_wrapper_changes_no_sampling_decision_of_other_spans() -> None:
    from opentelemetry.sdk.trace.sampling import Decision

    wrapper = GenAIRecordingSampler(TraceIdRatioBased(0.5))
    genai = {semconv.GEN_AI_OPERATION_NAME: "chat"}
    for trace_id in range(1, 2**64, 2**58):
        plain = wrapper.delegate.should_sample(None, trace_id, "GET /").decision
        assert wrapper.should_sample(None, trace_id, "GET /").decision is plain
        assert wrapper.should_sample(None, trace_id, "GET /", attributes={"x": 1}).decision \
            is plain
        expected = Decision.RECORD_AND_SAMPLE if plain is Decision.RECORD_AND_SAMPLE \
            else Decision.RECORD_ONLY
        assert wrapper.should_sample(None, trace_id, "chat", attributes=genai).decision \
            is expected
    assert wrapper.get_description() == "GenAIRecordingSampler{TraceIdRatioBased{0.5}}"
