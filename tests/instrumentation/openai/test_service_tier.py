"""Service tiers: recorded as the GenAI conventions name them, and priced at the tier's rates
(the real openai SDK against the fake server, through EnrichingSpanProcessor)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing import FakeOpenAIServer
from tripwire.testing.openai_server import chat_reply, responses_reply

from ..telemetry_env import enriched_pipeline

MODEL = "gpt-5-2025-08-07"
USAGE = (12_000, 3_000, 4_000)  # input (cached included), output, cached


@pytest.fixture
def enriched() -> Iterator[tuple[FakeOpenAIServer, InMemorySpanExporter]]:
    with enriched_pipeline(OpenAIInstrumentor) as exporter, FakeOpenAIServer() as server:
        yield server, exporter


def _price(tier: str | None) -> float:
    usage = Usage(input_tokens=12_000, output_tokens=3_000, cache_read_tokens=4_000)
    return float(calc_price(usage, MODEL, provider_id="openai",
                            genai_request_timestamp=datetime.now(timezone.utc),
                            price_context={"service_tier": tier} if tier else None).total_price)


def _call(server: FakeOpenAIServer, api: str, stream: bool, **kwargs: object) -> None:
    client = server.client()
    if api == "chat":
        server.enqueue(chat_reply("Done.", usage=USAGE))
        extra = {"stream_options": {"include_usage": True}} if stream else {}
        result = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Triage this"}], stream=stream,
            **extra, **kwargs)
    else:
        server.enqueue(responses_reply("Done.", usage=USAGE))
        result = client.responses.create(model=MODEL, input="Triage this", stream=stream,
                                         **kwargs)
    if stream:
        for _ in result:
            pass


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_priority_answer_is_priced_at_the_priority_rate(enriched, api, stream) -> None:
    server, exporter = enriched
    _call(server, api, stream, service_tier="priority")
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.OPENAI_REQUEST_SERVICE_TIER] == "priority"
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == "priority"
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(_price("priority"), abs=1e-12)
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(2 * _price(None), abs=1e-12)
    assert a[sc.TRIPWIRE_COST_TIER] == "priority"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_flex_and_default_tiers(enriched, api) -> None:
    server, exporter = enriched
    _call(server, api, False, service_tier="flex")
    _call(server, api, False)
    flex, default = exporter.get_finished_spans()
    assert flex.attributes[sc.TRIPWIRE_COST_USD] == pytest.approx(_price("flex"), abs=1e-12)
    assert flex.attributes[sc.TRIPWIRE_COST_TIER] == "flex"
    # no tier asked for: the answer says "default", priced (and named) at the standard rate
    assert sc.OPENAI_REQUEST_SERVICE_TIER not in default.attributes
    assert default.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    assert default.attributes[sc.TRIPWIRE_COST_USD] == pytest.approx(_price(None), abs=1e-12)
    assert default.attributes[sc.TRIPWIRE_COST_TIER] == "standard"


def test_tier_in_extra_body_and_a_tier_without_prices(enriched) -> None:
    server, exporter = enriched
    server.enqueue(chat_reply("Done.", usage=USAGE))
    server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Triage this"}],
        extra_body={"service_tier": "scale"})
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.OPENAI_REQUEST_SERVICE_TIER] == "scale"
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == "scale"
    # the price table has no "scale" rates: standard ones, and the span says which
    assert a[sc.TRIPWIRE_COST_TIER] == "standard"
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(_price(None), abs=1e-12)
