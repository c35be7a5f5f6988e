"""The one stream proxy: every exit path ends the span exactly once, sync and async."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tripwire._core.invocation import LLMCall, Request, Result
from tripwire._core.stream import StreamProxy
from tripwire._core.telemetry import make_telemetry


class Boom(Exception):
    pass


class FakeStream:
    """Behaves like an SDK stream: iterable, context manager, close()."""

    def __init__(self, items: list[Any], fail_at: int | None = None) -> None:
        self.items = items
        self.fail_at = fail_at
        self.pos = 0
        self.closed = 0
        self.marker = "original-attribute"

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_at is not None and self.pos == self.fail_at:
            raise Boom("server died")
        if self.pos >= len(self.items):
            raise StopIteration
        self.pos += 1
        return self.items[self.pos - 1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.closed += 1


class FakeAsyncStream(FakeStream):
    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return self.__next__()
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False

    async def close(self):  # type: ignore[override]
        self.closed += 1


class Acc:
    def __init__(self) -> None:
        self.chunks: list[Any] = []

    def add(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def result(self) -> Result:
        return Result(response_model="m-1", input_tokens=3, output_tokens=len(self.chunks))


@pytest.fixture
def env():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = make_telemetry("test", provider)

    def make(stream: Any) -> StreamProxy:
        call = LLMCall(telemetry, Request("chat", "openai", "m", stream=True))
        return StreamProxy(stream, call, Acc())

    return make, exporter


def one_span(exporter: InMemorySpanExporter):
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_exhausted(env) -> None:
    make, exporter = env
    proxy = make(FakeStream([1, 2, 3]))
    assert list(proxy) == [1, 2, 3]
    span = one_span(exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert "gen_ai.response.time_to_first_chunk" in span.attributes
    list(proxy)  # iterating again does not end it twice
    assert len(exporter.get_finished_spans()) == 1


def test_early_break_then_close(env) -> None:
    make, exporter = env
    stream = FakeStream([1, 2, 3])
    proxy = make(stream)
    for _ in proxy:
        break
    assert exporter.get_finished_spans() == ()
    proxy.close()
    proxy.close()
    assert stream.closed == 2  # the wrapped close always runs
    assert one_span(exporter).attributes["gen_ai.usage.output_tokens"] == 1


def test_with_block_exit(env) -> None:
    make, exporter = env
    stream = FakeStream([1, 2, 3])
    with make(stream) as proxy:
        assert isinstance(proxy, StreamProxy)
        next(proxy)
    assert stream.closed == 1
    assert one_span(exporter).status.status_code is StatusCode.UNSET


def test_error_mid_stream(env) -> None:
    make, exporter = env
    proxy = make(FakeStream([1, 2, 3], fail_at=2))
    with pytest.raises(Boom):
        for _ in proxy:
            pass
    span = one_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "Boom"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2  # what arrived is kept


def test_consumer_exception_inside_with(env) -> None:
    make, exporter = env
    with pytest.raises(KeyError), make(FakeStream([1, 2])) as proxy:
        next(proxy)
        raise KeyError("consumer bug")
    span = one_span(exporter)
    assert span.attributes["error.type"] == "KeyError"


def test_garbage_collected_without_close(env) -> None:
    make, exporter = env
    proxy = make(FakeStream([1, 2, 3]))
    next(proxy)
    del proxy
    gc.collect()
    assert one_span(exporter).attributes["gen_ai.usage.output_tokens"] == 1


def test_proxy_is_transparent(env) -> None:
    make, _ = env
    stream = FakeStream([1])
    proxy = make(stream)
    assert proxy.marker == "original-attribute"
    assert isinstance(proxy, FakeStream)


async def test_async_exhausted_and_close(env) -> None:
    make, exporter = env
    proxy = make(FakeAsyncStream([1, 2]))
    assert [c async for c in proxy] == [1, 2]
    await proxy.close()
    assert one_span(exporter).attributes["gen_ai.usage.output_tokens"] == 2


async def test_async_break_then_close(env) -> None:
    make, exporter = env
    stream = FakeAsyncStream([1, 2, 3])
    proxy = make(stream)
    async for _ in proxy:
        break
    assert exporter.get_finished_spans() == ()
    await proxy.close()
    assert stream.closed == 1
    assert one_span(exporter).attributes["gen_ai.usage.output_tokens"] == 1


async def test_async_with_and_error(env) -> None:
    make, exporter = env
    with pytest.raises(Boom):
        async with make(FakeAsyncStream([1, 2], fail_at=1)) as proxy:
            async for _ in proxy:
                pass
    span = one_span(exporter)
    assert span.status.status_code is StatusCode.ERROR


def test_accumulator_failure_does_not_reach_consumer(env) -> None:
    make, exporter = env
    proxy = make(FakeStream([1, 2]))

    def broken(chunk: Any) -> None:
        raise RuntimeError("bug in telemetry")

    proxy._self_acc.add = broken
    assert list(proxy) == [1, 2]
    assert len(exporter.get_finished_spans()) == 1
