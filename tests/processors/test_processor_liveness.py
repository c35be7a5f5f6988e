"""The runtime's count of live processors (``Runtime.processors_alive``), read as every call's
span starts to decide whether the runtime's accountant must count the call: it follows
processors that shut down and processors collected without a shutdown."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tripwire
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import get_runtime
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def _price(inp: int, out: int) -> float:
    return float(calc_price(Usage(input_tokens=inp, output_tokens=out), "gpt-4o-mini",
                            provider_id="openai").total_price)


def test_the_count_follows_attach_shutdown_and_collection() -> None:
    runtime = get_runtime()
    first = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()))
    second = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert runtime.processors_alive == runtime.processor_count == 2
    first.shutdown()
    assert runtime.processors_alive == runtime.processor_count == 1
    del first, second  # the second one never shut down
    gc.collect()
    assert runtime.processors_alive == runtime.processor_count == 0


def test_calls_are_accounted_once_a_processor_is_collected_without_shutdown(
        server: FakeOpenAIServer, default_settings: Any) -> None:
    # A processor of another pipeline, dropped without shutdown(): while it lived, the
    # accountant left calls to processors; once collected, it must count them again.
    gone = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()))
    del gone
    gc.collect()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # no enrichment processor
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        server.enqueue(chat_reply(content="a", usage=(1000, 100)))
        with tripwire.budget(usd=1.0) as block:
            server.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert block.spent_usd == pytest.approx(_price(1000, 100))
    assert block.spent_tokens == 1100
