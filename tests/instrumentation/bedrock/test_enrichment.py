"""Bedrock spans through EnrichingSpanProcessor: cost as genai-prices computes it for the same
usage (provider ``aws``), context window, refusal counting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.bedrock import BedrockInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.processors.prices import PriceBook
from tripwire.runtime import set_settings
from tripwire.settings import Settings
from tripwire.testing.anthropic_server import AnthropicUsage
from tripwire.testing.bedrock_server import (
    BedrockUsage,
    FakeBedrockServer,
    bedrock_converse,
    bedrock_guardrail_intervened,
    bedrock_invoke_anthropic,
)

from .conftest import HAIKU

GLOBAL_SONNET = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
US_SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ASK = [{"role": "user", "content": [{"text": "hi"}]}]


class Enriched:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.provider = TracerProvider()
        self.provider.add_span_processor(EnrichingSpanProcessor(
            SimpleSpanProcessor(self.exporter), meter_provider=self.meter_provider))
        self.server = FakeBedrockServer().start()

    def client(self) -> Any:
        return self.server.client()

    def attributes(self) -> dict[str, Any]:
        [span] = self.exporter.get_finished_spans()
        return dict(span.attributes or {})

    def metric(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        return [p for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics
                for m in sm.metrics if m.name == name for p in m.data.data_points]


@pytest.fixture
def enriched() -> Iterator[Enriched]:
    set_settings(Settings())
    e = Enriched()
    inst = BedrockInstrumentor()
    inst.instrument(tracer_provider=e.provider, meter_provider=e.meter_provider)
    try:
        yield e
    finally:
        inst.uninstrument()
        e.server.stop()
        e.provider.shutdown()


def _price(model: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id="aws").total_price)


def test_converse_cost_and_context_window(enriched: Enriched) -> None:
    enriched.server.enqueue(bedrock_converse("ok", usage=BedrockUsage(
        input_tokens=1000, output_tokens=200, cache_read_input_tokens=3000,
        cache_write_input_tokens=500)))
    enriched.client().converse(modelId=HAIKU, messages=ASK)
    a = enriched.attributes()
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 4500
    # genai-prices' input_tokens include the cache, as semconv's do
    expected = _price(HAIKU, input_tokens=4500, output_tokens=200, cache_read_tokens=3000,
                      cache_write_tokens=500)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(expected, abs=1e-12)
    assert a[sc.TRIPWIRE_COST_SOURCE] == sc.COST_SOURCE_PRICE_TABLE
    assert sc.TRIPWIRE_COST_UNPRICED not in a
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == 200_000
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(4500 / 200_000)
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False
    [cost] = enriched.metric(sc.METRIC_COST)
    assert cost.value == pytest.approx(expected)
    assert a[sc.TRIPWIRE_MODEL_FLOATING_ALIAS] is False  # -v1:0 ids are pinned


@pytest.mark.parametrize("model", [US_SONNET, GLOBAL_SONNET])
def test_invoke_model_priced_by_the_profile_not_the_reported_name(enriched: Enriched,
                                                                  model: str) -> None:
    # InvokeModel's body names the bare model (claude-sonnet-4-5-20250929); regional and
    # global profiles cost differently, so the request's profile id sets the price.
    enriched.server.enqueue(bedrock_invoke_anthropic(
        "ok", usage=AnthropicUsage(input_tokens=10_000, output_tokens=1_000)))
    enriched.client().invoke_model(modelId=model, body=json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [
            {"role": "user", "content": "hi"}]}))
    a = enriched.attributes()
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "claude-sonnet-4-5-20250929"
    expected = _price(model, input_tokens=10_000, output_tokens=1_000)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(expected, abs=1e-12)


def test_global_and_regional_prices_differ() -> None:
    # what the test above relies on; also: the bare name is not priced under aws.bedrock
    book = PriceBook()
    regional, world = book.lookup("aws.bedrock", US_SONNET), book.lookup("aws.bedrock",
                                                                         GLOBAL_SONNET)
    assert regional is not None and world is not None
    assert regional.gp_model.id != world.gp_model.id
    assert book.lookup("aws.bedrock", "claude-sonnet-4-5-20250929") is None
    assert book.lookup("anthropic", "claude-sonnet-4-5-20250929") is not None  # others unchanged
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{US_SONNET}"
    found = book.lookup("aws.bedrock", arn)
    assert found is not None and found.gp_model.id == regional.gp_model.id


def test_guardrail_refusal_counted(enriched: Enriched) -> None:
    enriched.server.enqueue(bedrock_guardrail_intervened())
    enriched.client().converse(modelId=HAIKU, messages=ASK)
    a = enriched.attributes()
    assert a[sc.TRIPWIRE_REFUSAL] is True
    [point] = enriched.metric(sc.METRIC_REFUSALS)
    assert point.value == 1
