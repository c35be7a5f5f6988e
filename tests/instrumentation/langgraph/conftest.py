"""The real ``langgraph`` (and ``langchain-openai``, whose chat model uses the ``openai``
client) against the fake OpenAI server, with tripwire's LangGraph, OpenAI and LangChain
instrumentors on a provider whose spans go through the enriching processor to an in-memory
exporter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.instrumentation.langchain import LangChainInstrumentor
from tripwire.instrumentation.langgraph import LangGraphInstrumentor
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings
from tripwire.testing import FakeOpenAIServer

from ..telemetry_env import SpanQueries

pytest.importorskip("langgraph")
langchain_openai = pytest.importorskip("langchain_openai")


@dataclass
class GraphEnv(SpanQueries):
    server: FakeOpenAIServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def chat_model(self, name: str = "gpt-4o-mini") -> Any:
        return langchain_openai.ChatOpenAI(model=name, base_url=self.server.base_url,
                                           api_key="test-key", max_retries=0)



def graph_env(settings: Settings) -> Iterator[GraphEnv]:
    set_settings(settings)
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                                       meter_provider=meter_provider))
    instrumentors: list[Any] = [LangGraphInstrumentor(), OpenAIInstrumentor(),
                                LangChainInstrumentor()]
    for inst in instrumentors:
        inst.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield GraphEnv(server, exporter, reader)
    finally:
        for inst in instrumentors:
            inst.uninstrument()
        provider.shutdown()


@pytest.fixture
def env() -> Iterator[GraphEnv]:
    yield from graph_env(Settings())
