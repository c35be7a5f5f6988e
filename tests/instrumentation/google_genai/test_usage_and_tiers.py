"""Gemini usage as the API sends it (zero counts left out of the JSON, counts spread over a
stream's chunks) and the service tier that served the call (real SDK, fake server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
from tripwire.testing._http import StreamReply, json_reply, sse_event
from tripwire.testing.gemini_server import FakeGeminiServer, GeminiUsage, gemini_response

from ..telemetry_env import enriched_pipeline

MODEL = "gemini-2.5-flash"


@pytest.fixture
def enriched() -> Iterator[tuple[InMemorySpanExporter, FakeGeminiServer]]:
    with enriched_pipeline(GoogleGenAIInstrumentor) as exporter, FakeGeminiServer() as server:
        yield exporter, server


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
def test_an_omitted_prompt_count_is_zero(enriched, stream) -> None:
    """``usageMetadata`` without ``promptTokenCount`` (the API drops zero counts): input 0,
    not unknown; the trace rollup counts the call as fully known."""
    exporter, server = enriched
    server.enqueue(gemini_response("four words of answer",
                                   usage=GeminiUsage(prompt_token_count=0,
                                                     candidates_token_count=40)))
    client = server.client(api_key="test-key")
    if stream:
        for _ in client.models.generate_content_stream(model=MODEL, contents=""):
            pass
    else:
        client.models.generate_content(model=MODEL, contents="")
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 0
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 40
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a and sc.TRIPWIRE_USAGE_INCOMPLETE not in a
    price = calc_price(Usage(input_tokens=0, output_tokens=40), MODEL, provider_id="google")
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(float(price.total_price), abs=1e-12)
    assert a[sc.TRIPWIRE_TRACE_INPUT_TOKENS] == 0
    assert sc.TRIPWIRE_TRACE_USAGE_UNKNOWN_CALLS not in a


def test_a_count_left_out_of_a_later_chunk_keeps_the_earlier_one(enriched) -> None:
    """The prompt count arrives on the first chunks; a last chunk without it does not turn
    it into 0: per count, the latest chunk that reported it wins."""
    exporter, server = enriched
    reply = gemini_response("several words in this answer",
                            usage=GeminiUsage(prompt_token_count=1_200, candidates_token_count=9))
    chunks = reply.stream_payloads(MODEL)
    assert len(chunks) > 1
    chunks[-1]["usageMetadata"].pop("promptTokenCount")
    server.enqueue(StreamReply([sse_event(c) for c in chunks]))
    client = server.client(api_key="test-key")
    for _ in client.models.generate_content_stream(model=MODEL, contents="hi"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1_200
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 9


TTS = "gemini-3.8-flash-tts"  # a model genai-prices has flex and priority prices for


def _price(context: dict[str, str] | None) -> float:
    return float(calc_price(Usage(input_tokens=20, output_tokens=10), TTS, provider_id="google",
                            genai_request_timestamp=datetime.now(timezone.utc),
                            price_context=context).total_price)


@pytest.mark.parametrize("served", ["priority", "standard"])
def test_the_served_tier_header_sets_the_price(enriched, served) -> None:
    """``service_tier="priority"`` asked for; ``x-gemini-service-tier`` says what served it
    (priority capacity exhausted: standard), and the price follows the served tier."""
    exporter, server = enriched
    server.enqueue(gemini_response("ok", headers={"x-gemini-service-tier": served}))
    client = server.client(api_key="test-key")
    client.models.generate_content(model=TTS, contents="hi", config={"service_tier": "priority"})
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.TRIPWIRE_REQUEST_SERVICE_TIER] == "priority"
    assert a[sc.TRIPWIRE_RESPONSE_SERVICE_TIER] == served
    expected = _price({"service_tier": served})
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(expected, abs=1e-12)
    assert a[sc.TRIPWIRE_COST_TIER] == served
    if served == "priority":
        assert expected > _price(None)


def test_vertex_traffic_type_is_the_served_tier(enriched) -> None:
    exporter, server = enriched
    reply = gemini_response("ok")
    payload = reply.payload(TTS)
    payload["usageMetadata"]["trafficType"] = "ON_DEMAND_FLEX"
    server.enqueue(json_reply(payload))
    client = server.client(vertexai=True, api_key="test-key")
    client.models.generate_content(model=TTS, contents="hi")
    (span,) = exporter.get_finished_spans()
    a = span.attributes
    assert a[sc.TRIPWIRE_RESPONSE_SERVICE_TIER] == "flex"
    assert a[sc.TRIPWIRE_COST_TIER] == "flex"
    assert a[sc.TRIPWIRE_COST_USD] == pytest.approx(_price({"service_tier": "flex"}), abs=1e-12)
