"""Anthropic spans through EnrichingSpanProcessor: cache-aware cost, context window, rollup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.testing.anthropic_server import AnthropicUsage, FakeAnthropicServer, anthropic_message

from ..telemetry_env import enriched_pipeline

USAGE = AnthropicUsage(input_tokens=30_000, output_tokens=2_000, cache_read_input_tokens=120_000,
                       cache_creation_input_tokens=20_000)


@pytest.fixture
def enriched() -> Iterator[tuple[FakeAnthropicServer, InMemorySpanExporter]]:
    with enriched_pipeline(AnthropicInstrumentor) as exporter, FakeAnthropicServer() as server:
        yield server, exporter


def _expected_cost() -> float:
    # genai-prices' input_tokens include the cache reads and writes, as semconv's do
    usage = Usage(input_tokens=30_000 + 120_000 + 20_000, output_tokens=2_000,
                  cache_read_tokens=120_000, cache_write_tokens=20_000)
    return float(calc_price(usage, "claude-sonnet-4-5-20250929", provider_id="anthropic")
                 .total_price)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_cache_aware_cost_and_context_window(enriched, stream) -> None:
    server, exporter = enriched
    server.enqueue(anthropic_message("Done.", usage=USAGE))
    client = server.client()
    kwargs = {"model": "claude-sonnet-4-5", "max_tokens": 4096,
              "messages": [{"role": "user", "content": "Summarise the repository"}]}
    if stream:
        with client.messages.stream(**kwargs) as s:
            s.until_done()
    else:
        client.messages.create(**kwargs)
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 170_000
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(_expected_cost(), abs=1e-9)
    assert a[sc.TRIPWIRE_COST_SOURCE] == sc.COST_SOURCE_PRICE_TABLE
    uncached = float(calc_price(Usage(input_tokens=170_000, output_tokens=2_000),
                                "claude-sonnet-4-5-20250929", provider_id="anthropic").total_price)
    assert a[sc.TRIPWIRE_COST_USD] < uncached  # cache reads are priced at their own rate
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == 200_000
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(170_000 / 200_000)
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_WARNING] is True  # above the 0.8 default
    assert a[sc.TRIPWIRE_MODEL_FLOATING_ALIAS] is True  # an alias, resolved to a snapshot
    # the call is its own local root: the trace rollup agrees with the span
    assert a[sc.TRIPWIRE_TRACE_COST_USD] == pytest.approx(a[sc.TRIPWIRE_COST_USD])
    assert a[sc.TRIPWIRE_TRACE_LLM_CALLS] == 1


def test_refusal_flag_survives_enrichment(enriched) -> None:
    from tripwire.testing.anthropic_server import anthropic_refusal

    server, exporter = enriched
    server.enqueue(anthropic_refusal("cyber"))
    server.client().messages.create(model="claude-haiku-4-5", max_tokens=10,
                                    messages=[{"role": "user", "content": "x"}])
    (span,) = exporter.get_finished_spans()
    assert span.attributes[sc.TRIPWIRE_REFUSAL] is True
    assert span.attributes[sc.TRIPWIRE_REFUSAL_CATEGORY] == "cyber"
    assert span.attributes[sc.TRIPWIRE_COST_USD] > 0

