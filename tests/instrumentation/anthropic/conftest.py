"""An AnthropicInstrumentor on in-memory exporters, and a fake Anthropic server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.testing.anthropic_server import FakeAnthropicServer

from ..telemetry_env import TelemetryEnv, instrumented

API_KEY = "sk-ant-test-SECRET-key-123456"
MODEL = "claude-sonnet-4-5"
SNAPSHOT = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "Tell me about lighthouses"}]
ARGS: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}


@dataclass
class Env(TelemetryEnv):
    server: FakeAnthropicServer

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        return self.server.client(**kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        return self.server.async_client(**kwargs)


@pytest.fixture
def env() -> Iterator[Env]:
    with instrumented(AnthropicInstrumentor) as parts, FakeAnthropicServer() as server:
        yield Env(server=server, **parts)
