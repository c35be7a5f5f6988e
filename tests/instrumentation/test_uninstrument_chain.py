"""uninstrument() removes only tripwire's wrappers, wherever they sit in a chain of wrappers,
and leaves the others in place and working: the official opentelemetry-instrumentation-openai-v2
instrumentor on the same SDK methods, and any plain wrapt wrapper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import wrapt
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing import FakeAnthropicServer, FakeOpenAIServer

openai_v2 = pytest.importorskip(
    "opentelemetry.instrumentation.openai_v2",
    reason="needs opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==1.1b0 httpx",
)

OURS = "tripwire.instrumentation.openai"
OFFICIAL = "opentelemetry.util.genai.handler"  # the scope openai-v2 2.4b0 writes its spans with
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def _proxied(owner: Any, name: str) -> bool:
    return isinstance(owner.__dict__[name], wrapt.BaseObjectProxy)


@dataclass
class Chain:
    provider: TracerProvider
    exporter: InMemorySpanExporter
    server: FakeOpenAIServer
    ours: Any
    official: Any

    def instrument_ours(self) -> None:
        self.ours.instrument(tracer_provider=self.provider)

    def instrument_official(self) -> None:
        self.official.instrument(tracer_provider=self.provider)

    def scopes(self) -> list[str]:
        """The instrumentation scope of each span of one sync and one async chat call."""
        self.exporter.clear()
        self.server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)

        async def achat() -> None:
            await self.server.async_client().chat.completions.create(model="gpt-4o",
                                                                     messages=MESSAGES)

        asyncio.run(achat())
        return sorted(s.instrumentation_scope.name for s in self.exporter.get_finished_spans()
                      if s.name.startswith("chat"))


def _completions() -> tuple[type, type]:
    from openai.resources.chat.completions import AsyncCompletions, Completions

    return Completions, AsyncCompletions


@pytest.fixture
def chain() -> Iterator[Chain]:
    originals = [owner.__dict__["create"] for owner in _completions()]
    assert not any(_proxied(owner, "create") for owner in _completions())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ours, official = OpenAIInstrumentor(), openai_v2.OpenAIInstrumentor()
    try:
        with FakeOpenAIServer() as server:
            yield Chain(provider, exporter, server, ours, official)
    finally:
        for instrumentor in (ours, official):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
    assert [owner.__dict__["create"] for owner in _completions()] == originals


def test_ours_under_the_official_wrapper_is_taken_out_of_the_chain(chain: Chain) -> None:
    chain.instrument_ours()
    chain.instrument_official()
    assert chain.scopes() == [OFFICIAL, OFFICIAL, OURS, OURS]
    chain.ours.uninstrument()
    assert chain.scopes() == [OFFICIAL, OFFICIAL]  # theirs stays and works; ours is gone
    chain.official.uninstrument()
    assert chain.scopes() == []
    assert not any(_proxied(owner, "create") for owner in _completions())


def test_ours_over_the_official_wrapper_leaves_it_in_place(chain: Chain) -> None:
    chain.instrument_official()
    chain.instrument_ours()
    assert chain.scopes() == [OFFICIAL, OFFICIAL, OURS, OURS]
    chain.ours.uninstrument()
    assert chain.scopes() == [OFFICIAL, OFFICIAL]
    chain.official.uninstrument()
    assert chain.scopes() == []


def test_ours_comes_off_after_the_official_one_was_removed_from_above_it(chain: Chain) -> None:
    # The official uninstrument() puts ``getattr(Completions, "create").__wrapped__`` back:
    # a bound stand-in of our wrapper, not our wrapper itself.
    chain.instrument_ours()
    chain.instrument_official()
    chain.official.uninstrument()
    assert chain.scopes() == [OURS, OURS]
    chain.ours.uninstrument()
    assert chain.scopes() == []
    assert not any(_proxied(owner, "create") for owner in _completions())


def test_instrument_twice_then_uninstrument_in_a_chain(chain: Chain) -> None:
    chain.instrument_ours()
    OpenAIInstrumentor().instrument(tracer_provider=chain.provider)  # singleton: a no-op
    chain.instrument_official()
    assert chain.scopes() == [OFFICIAL, OFFICIAL, OURS, OURS]  # one span each, not two of ours
    chain.ours.uninstrument()
    assert chain.scopes() == [OFFICIAL, OFFICIAL]
    chain.instrument_ours()  # back on top of the official wrapper, once
    assert chain.scopes() == [OFFICIAL, OFFICIAL, OURS, OURS]
    chain.ours.uninstrument()
    assert chain.scopes() == [OFFICIAL, OFFICIAL]


def test_a_foreign_wrapt_wrapper_above_ours_survives_our_uninstrument() -> None:
    from anthropic._base_client import BaseClient
    from anthropic.resources.messages import Messages

    original = Messages.__dict__["create"]
    calls: list[str] = []

    def foreign(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ours = AnthropicInstrumentor()
    ours.instrument(tracer_provider=provider)
    try:
        wrapt.wrap_function_wrapper(Messages, "create", foreign)
        with FakeAnthropicServer() as server:
            client = server.client()
            client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES)
            assert [s.instrumentation_scope.name for s in exporter.get_finished_spans()] == [
                "tripwire.instrumentation.anthropic"]
            ours.uninstrument()
            exporter.clear()
            client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES)
        assert calls == ["claude-sonnet-4-5", "claude-sonnet-4-5"]  # still called
        assert exporter.get_finished_spans() == ()  # ours is not
        assert Messages.__dict__["create"].__wrapped__ is original
        assert isinstance(BaseClient.__dict__["_tracer"], property)  # the tracer gate is off
    finally:
        if ours.is_instrumented_by_opentelemetry:
            ours.uninstrument()
        unwrap(Messages, "create")
    assert Messages.__dict__["create"] is original


def test_a_plain_decorator_above_ours_is_reported_not_broken(
        caplog: pytest.LogCaptureFixture) -> None:
    """A wrapper that is no wrapt proxy cannot be re-pointed: ours stays, a WARNING says
    where, and the chain still works."""
    import functools

    from tripwire._core import patching

    class Store:
        def query(self, q: str) -> str:
            return q

    seen: list[str] = []

    def ours(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append("ours")
        return wrapped(*args, **kwargs)

    patching.wrap_function(Store, "query", ours)
    patching.wrap_function(Store, "query", ours)  # already ours: not wrapped twice
    inner = Store.__dict__["query"]

    @functools.wraps(inner)
    def decorated(self: Any, q: str) -> str:
        seen.append("plain")
        return inner.__get__(self, Store)(q)

    Store.query = decorated  # type: ignore[method-assign]
    assert not patching.unwrap(Store, "query")
    assert "could not take its wrapper off Store.query" in caplog.text
    assert Store().query("x") == "x"
    assert seen == ["plain", "ours"]
    Store.query = inner  # type: ignore[method-assign]
    assert patching.unwrap(Store, "query")
    assert not _proxied(Store, "query")
