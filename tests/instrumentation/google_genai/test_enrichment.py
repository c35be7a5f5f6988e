"""Our Gemini spans through EnrichingSpanProcessor: cost and context window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
from tripwire.testing.gemini_server import FakeGeminiServer, GeminiUsage, gemini_response

from ..telemetry_env import enriched_pipeline

MODEL = "gemini-2.5-flash"


@pytest.fixture
def enriched() -> Iterator[tuple[InMemorySpanExporter, FakeGeminiServer]]:
    with enriched_pipeline(GoogleGenAIInstrumentor) as exporter, FakeGeminiServer() as server:
        yield exporter, server


@pytest.mark.parametrize("vertexai", [False, True], ids=["developer_api", "vertex_ai"])
def test_cost_and_context_window(enriched, vertexai: bool) -> None:
    exporter, server = enriched
    server.enqueue(gemini_response("ok", usage=GeminiUsage(
        prompt_token_count=10_000, candidates_token_count=500, cached_content_token_count=2_000,
        thoughts_token_count=300)))
    client = server.client(vertexai=vertexai, api_key="test-key")
    client.models.generate_content(model=MODEL, contents="hi")
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10_000
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 800
    price = calc_price(Usage(input_tokens=10_000, cache_read_tokens=2_000, output_tokens=800),
                       MODEL, provider_id="google")
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(float(price.total_price), abs=1e-9)
    assert a[sc.TRIPWIRE_COST_SOURCE] == sc.COST_SOURCE_PRICE_TABLE
    assert sc.TRIPWIRE_COST_UNPRICED not in a
    limit = price.model.context_window
    assert limit and a[sc.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == limit
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(10_000 / limit, abs=1e-6)
    assert a[sc.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False


def test_safety_refusal_is_counted_once(enriched) -> None:
    from tripwire.testing.gemini_server import gemini_safety_block

    exporter, server = enriched
    server.enqueue(gemini_safety_block())
    client = server.client()  # kept: the SDK closes its HTTP client when the Client goes
    client.models.generate_content(model=MODEL, contents="x")
    (span,) = exporter.get_finished_spans()
    assert span.attributes[sc.TRIPWIRE_REFUSAL] is True
    assert span.attributes[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert span.attributes[sc.TRIPWIRE_REFUSAL_CATEGORY] == "dangerous_content"

