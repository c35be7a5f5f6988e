"""The real ``langgraph`` (and ``langchain-openai``, whose chat model uses the ``openai``
client) against the fake OpenAI server, with tripwire's LangGraph, OpenAI and LangChain
instrumentors on a provider whose spans go through the enriching processor to an in-memory
exporter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.instrumentation.langchain import LangChainInstrumentor
from tripwire.instrumentation.langgraph import LangGraphInstrumentor
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.settings import Settings
from tripwire.testing import FakeOpenAIServer

from ..telemetry_env import SpanQueries, enriched_with_server

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
    with enriched_with_server(settings, [LangGraphInstrumentor(), OpenAIInstrumentor(),
                                         LangChainInstrumentor()]) as (server, exporter, reader):
        yield GraphEnv(server, exporter, reader)


@pytest.fixture
def env() -> Iterator[GraphEnv]:
    yield from graph_env(Settings())
