from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
from tripwire.testing.gemini_server import FakeGeminiServer

from ..telemetry_env import TelemetryEnv, instrumented

API_KEY = "AIza-test-SECRET-key-0123456789"
GOOGLE_ENV = ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY", "GEMINI_API_KEY",
              "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION")


@dataclass
class Env(TelemetryEnv):
    server: FakeGeminiServer
    # google-genai closes its HTTP client when the Client is collected, and a stream holds
    # only client.models: the clients live as long as the test.
    clients: list[Any] = field(default_factory=list)

    def client(self, *, vertexai: bool = False, **http_options: Any) -> Any:
        client = self.server.client(vertexai=vertexai, api_key=API_KEY, **http_options)
        self.clients.append(client)
        return client

    def aio(self, *, vertexai: bool = False) -> Any:
        return self.client(vertexai=vertexai).aio


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # These switch the client's mode (Vertex AI, project, key); tests choose explicitly.
    for var in GOOGLE_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def env() -> Iterator[Env]:
    with instrumented(GoogleGenAIInstrumentor) as parts, FakeGeminiServer() as server:
        yield Env(server=server, **parts)


def get_weather(city: str) -> dict:
    """Weather in a city (a Python tool for the SDK's automatic function calling)."""
    return {"city": city, "sky": "sunny"}
