"""The terms an Anthropic call was billed at (fast mode, batch tier, one-hour cache writes)
recorded on the span and priced as genai-prices prices them (real SDK, fake server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.testing.anthropic_server import AnthropicUsage, FakeAnthropicServer, anthropic_message

from ..telemetry_env import enriched_pipeline

MODEL = "claude-opus-4-8"


@pytest.fixture
def enriched() -> Iterator[tuple[FakeAnthropicServer, InMemorySpanExporter]]:
    with enriched_pipeline(AnthropicInstrumentor) as exporter, FakeAnthropicServer() as server:
        yield server, exporter


def _price(model: str, context: dict[str, str] | None, one_hour: int) -> float:
    usage = Usage(input_tokens=3_000 + 50_000 + 20_000, output_tokens=1_000,
                  cache_read_tokens=50_000, cache_write_tokens=20_000,
                  cache_write_1h_tokens=one_hour or None)
    return float(calc_price(usage, model, provider_id="anthropic",
                            genai_request_timestamp=datetime.now(timezone.utc),
                            price_context=context).total_price)


def _usage(**terms: object) -> AnthropicUsage:
    return AnthropicUsage(input_tokens=3_000, output_tokens=1_000, cache_read_input_tokens=50_000,
                          cache_creation_input_tokens=20_000, **terms)  # type: ignore[arg-type]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_fast_mode_and_one_hour_cache_writes(enriched, stream) -> None:
    server, exporter = enriched
    server.enqueue(anthropic_message("Done.", usage=_usage(speed="fast",
                                                          cache_creation_1h_input_tokens=15_000)))
    kwargs = {"model": MODEL, "max_tokens": 1024, "speed": "fast",
              "messages": [{"role": "user", "content": "Summarise"}]}
    client = server.client()
    if stream:
        with client.messages.stream(**kwargs) as s:
            s.until_done()
    else:
        client.messages.create(**kwargs)
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.TRIPWIRE_REQUEST_SPEED] == "fast"
    assert a[sc.TRIPWIRE_RESPONSE_SPEED] == "fast"
    assert a[sc.TRIPWIRE_RESPONSE_SERVICE_TIER] == "standard"
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 20_000
    assert a[sc.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS] == 15_000
    expected = _price(MODEL, {"speed": "fast", "service_tier": "standard"}, 15_000)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(expected, abs=1e-12)
    assert a[sc.TRIPWIRE_COST_TIER] == "fast"
    # fast mode and one-hour writes both cost more than the standard five-minute terms
    assert a[sc.TRIPWIRE_COST_USD] > _price(MODEL, None, 15_000) > _price(MODEL, None, 0)


def test_batch_tier_is_priced_at_the_batch_rate(enriched) -> None:
    """A Message Batches result says ``service_tier: "batch"`` in its usage."""
    server, exporter = enriched
    server.enqueue(anthropic_message("Done.", usage=_usage(service_tier="batch")))
    server.client().messages.create(model=MODEL, max_tokens=1024,
                                    messages=[{"role": "user", "content": "Summarise"}])
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.TRIPWIRE_RESPONSE_SERVICE_TIER] == "batch"
    assert sc.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS not in a  # none were written
    batch = _price(MODEL, {"processing": "batch"}, 0)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(batch, abs=1e-12)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(_price(MODEL, None, 0) / 2, abs=1e-12)
    assert a[sc.TRIPWIRE_COST_TIER] == "batch"
