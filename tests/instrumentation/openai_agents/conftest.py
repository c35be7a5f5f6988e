"""The real ``openai-agents`` SDK against the fake OpenAI server, with tripwire's agents
instrumentor (and, unless a test says otherwise, its OpenAI instrumentor) on a provider whose
spans go through the enriching processor to an in-memory exporter."""

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

from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings
from tripwire.testing import FakeOpenAIServer

from ..telemetry_env import SpanQueries

agents = pytest.importorskip("agents")


@dataclass
class AgentsEnv(SpanQueries):
    server: FakeOpenAIServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def model(self, name: str = "gpt-4o-mini") -> Any:
        return agents.OpenAIResponsesModel(model=name, openai_client=self.server.async_client())



def _env(settings: Settings, with_openai: bool) -> Iterator[AgentsEnv]:
    set_settings(settings)
    # Only ours: the SDK's default processor would try to export to OpenAI's dashboard.
    agents.set_trace_processors([])
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(exporter),
                                                       meter_provider=meter_provider))
    instrumentors: list[Any] = [OpenAIAgentsInstrumentor()]
    if with_openai:
        instrumentors.append(OpenAIInstrumentor())
    for inst in instrumentors:
        inst.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield AgentsEnv(server, exporter, reader)
    finally:
        for inst in instrumentors:
            inst.uninstrument()
        provider.shutdown()
        agents.set_trace_processors([])


@pytest.fixture
def env() -> Iterator[AgentsEnv]:
    yield from _env(Settings(), with_openai=True)


@pytest.fixture
def env_without_openai() -> Iterator[AgentsEnv]:
    yield from _env(Settings(), with_openai=False)


@pytest.fixture
def enforcing_env() -> Iterator[AgentsEnv]:
    from tripwire.settings import BudgetMode

    yield from _env(Settings(budget_mode=BudgetMode.ENFORCE), with_openai=True)
