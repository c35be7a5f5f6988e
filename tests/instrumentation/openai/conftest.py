from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing import FakeOpenAIServer

from ..telemetry_env import TelemetryEnv, instrumented


@dataclass
class Env(TelemetryEnv):
    server: FakeOpenAIServer

    def client(self, **kwargs: Any) -> Any:
        import openai

        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.server.base_url, api_key="sk-test-SECRET-key-123456", **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        import openai

        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.server.base_url, api_key="sk-test-SECRET-key-123456",
                                  **kwargs)


@pytest.fixture
def env() -> Iterator[Env]:
    with instrumented(OpenAIInstrumentor) as parts, FakeOpenAIServer() as server:
        yield Env(server=server, **parts)
