"""The real ``openai-agents`` SDK against the fake OpenAI server, with tripwire's agents
instrumentor (and, unless a test says otherwise, its OpenAI instrumentor) on a provider whose
spans go through the enriching processor to an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from tripwire.settings import Settings
from tripwire.testing import FakeOpenAIServer

from ..telemetry_env import SpanQueries, enriched_with_server

agents = pytest.importorskip("agents")


@dataclass
class AgentsEnv(SpanQueries):
    server: FakeOpenAIServer
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def model(self, name: str = "gpt-4o-mini") -> Any:
        return agents.OpenAIResponsesModel(model=name, openai_client=self.server.async_client())



def _env(settings: Settings, with_openai: bool) -> Iterator[AgentsEnv]:
    # Only ours: the SDK's default processor would try to export to OpenAI's dashboard.
    agents.set_trace_processors([])
    instrumentors: list[Any] = [OpenAIAgentsInstrumentor()]
    if with_openai:
        instrumentors.append(OpenAIInstrumentor())
    try:
        with enriched_with_server(settings, instrumentors) as (server, exporter, reader):
            yield AgentsEnv(server, exporter, reader)
    finally:
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
