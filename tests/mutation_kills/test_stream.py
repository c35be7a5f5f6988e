"""The stream proxy's end paths, exactly: an iterable that is not an iterator, close() that
fails, aclose(), an accumulator whose result fails, close_proxied, and the first-chunk time
taken once (docs/testing.md, "Mutation testing"). The common paths:
tests/core/test_stream_proxy.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tripwire import semconv
from tripwire._core.invocation import LLMCall, Request, Result
from tripwire._core.stream import StreamProxy, close_proxied
from tripwire._core.telemetry import make_telemetry


class Boom(Exception):
    pass


class Acc:
    def __init__(self, fail_result: bool = False) -> None:
        self.chunks: list[Any] = []
        self.fail_result = fail_result

    def add(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def result(self) -> Result:
        if self.fail_result:
            raise RuntimeError("bug in the accumulator")
        return Result(response_model="m-1", input_tokens=3, output_tokens=len(self.chunks))


class EventStream:
    """Iterable but not an iterator (botocore's EventStream): one iterator per iter()."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.iterators = 0

    def __iter__(self) -> Any:
        self.iterators += 1
        return iter(self.items)

    def close(self) -> None:
        pass


class Closing:
    def __init__(self, items: list[Any], close_fails: bool = False) -> None:
        self._items = iter(items)
        self.close_fails = close_fails
        self.closed = 0

    def __iter__(self) -> Closing:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        self.closed += 1
        if self.close_fails:
            raise Boom("close failed")

    def __enter__(self) -> Closing:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return True  # swallows the exception: the proxy must pass that on


class AsyncOnlyClose:
    def __init__(self, items: list[Any]) -> None:
        self._items = list(items)
        self.closed = 0

    def __aiter__(self) -> AsyncOnlyClose:
        return self

    async def __anext__(self) -> Any:
        if not self._items:
            raise StopAsyncIteration
        return self._items.pop(0)

    async def aclose(self) -> str:
        self.closed += 1
        return "closed"


@pytest.fixture
def env() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = make_telemetry("test", provider)

    def make(stream: Any, acc: Acc | None = None) -> StreamProxy:
        call = LLMCall(telemetry, Request("chat", "openai", "m", stream=True))
        return StreamProxy(stream, call, acc or Acc())

    return make, exporter


def _one(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_an_iterable_that_is_not_an_iterator_is_iterated_once(env) -> None:
    make, exporter = env
    stream = EventStream([1, 2, 3])
    assert list(make(stream)) == [1, 2, 3]
    assert stream.iterators == 1
    span = _one(exporter)
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert span.status.status_code is StatusCode.UNSET


class SdkStream:
    """An iterator shaped like the OpenAI and Anthropic SDKs' Stream: ``__next__`` reads the
    next event, ``__iter__`` is a generator over the same events."""

    def __init__(self, items: list[Any]) -> None:
        self._iterator = iter(items)
        self.next_calls = 0

    def __next__(self) -> Any:
        self.next_calls += 1
        return self._iterator.__next__()

    def __iter__(self) -> Any:
        yield from self._iterator


def test_an_iterator_is_read_through_its_own_next(env) -> None:
    # As next(stream) in the app would: not through a generator of iter(stream) per call
    make, exporter = env
    stream = SdkStream([1, 2, 3])
    proxy = make(stream)
    assert next(proxy) == 1
    assert list(proxy) == [2, 3]
    assert stream.next_calls == 4  # three chunks, then the end
    assert _one(exporter).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3

def test_close_that_fails_ends_the_span_as_failed_and_raises(env) -> None:
    make, exporter = env
    stream = Closing([1, 2], close_fails=True)
    proxy = make(stream)
    next(proxy)
    with pytest.raises(Boom):
        proxy.close()
    span = _one(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "Boom"
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_exit_passes_on_what_the_stream_returns(env) -> None:
    make, exporter = env
    with make(Closing([1, 2])) as proxy:
        next(proxy)
        raise KeyError("swallowed by the stream's __exit__")
    span = _one(exporter)
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"


def test_an_accumulator_that_fails_still_ends_the_span(env) -> None:
    make, exporter = env
    assert list(make(Closing([1, 2]), Acc(fail_result=True))) == [1, 2]
    span = _one(exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
    # ... and a failing stream too, with its error
    exporter.clear()
    stream = Closing([1], close_fails=True)
    proxy = make(stream, Acc(fail_result=True))
    with pytest.raises(Boom):
        proxy.close()
    assert _one(exporter).attributes[semconv.ERROR_TYPE] == "Boom"


def test_the_first_chunk_is_timed_once(env, monkeypatch: pytest.MonkeyPatch) -> None:
    make, exporter = env
    calls: list[int] = []
    original = LLMCall.first_chunk
    monkeypatch.setattr(LLMCall, "first_chunk",
                        lambda self: (calls.append(1), original(self))[1])
    assert list(make(Closing([1, 2, 3]))) == [1, 2, 3]
    assert calls == [1]
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in _one(exporter).attributes


def test_a_stream_with_no_chunk_has_no_first_chunk_time(env) -> None:
    make, exporter = env
    assert list(make(Closing([]))) == []
    span = _one(exporter)
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in span.attributes
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 0


def test_aclose_ends_the_span_and_returns_the_stream_answer(env) -> None:
    make, exporter = env
    stream = AsyncOnlyClose([1, 2, 3])
    proxy = make(stream)

    async def run() -> Any:
        async for _ in proxy:
            break
        assert exporter.get_finished_spans() == ()
        return await proxy.aclose()

    assert asyncio.run(run()) == "closed"
    assert stream.closed == 1
    assert _one(exporter).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_async_close_returns_the_awaited_answer(env) -> None:
    make, exporter = env

    class AsyncClose(AsyncOnlyClose):
        async def close(self) -> str:
            return "done"

    proxy = make(AsyncClose([1]))

    async def run() -> Any:
        result = proxy.close()
        assert exporter.get_finished_spans() == ()  # ended once the close has run
        return await result

    assert asyncio.run(run()) == "done"
    assert _one(exporter).status.status_code is StatusCode.UNSET


def test_close_proxied(env) -> None:
    make, exporter = env
    stream = Closing([1])
    assert close_proxied(stream) is None and stream.closed == 0  # not ours: left alone
    proxy = make(stream)
    assert close_proxied(proxy) is None
    assert stream.closed == 1
    assert len(exporter.get_finished_spans()) == 1


def _failed_steps(caplog: pytest.LogCaptureFixture) -> list[str]:
    import re

    return [m.group(1) for r in caplog.records
            if (m := re.search(r"telemetry step '([^']+)' failed", r.getMessage()))]


def test_every_chunk_reaches_the_accumulator_as_it_came(env) -> None:
    make, _ = env
    acc = Acc()
    assert list(make(Closing(["a", "b", "c"]), acc)) == ["a", "b", "c"]
    assert acc.chunks == ["a", "b", "c"]
    acc = Acc()
    proxy = make(AsyncOnlyClose(["x", "y"]), acc)

    async def run() -> list[Any]:
        return [c async for c in proxy]

    assert asyncio.run(run()) == ["x", "y"]
    assert acc.chunks == ["x", "y"]


def test_failures_are_logged_under_their_step(env, caplog: pytest.LogCaptureFixture) -> None:
    make, _ = env

    class BrokenAdd(Acc):
        def add(self, chunk: Any) -> None:
            raise RuntimeError("bug")

    with caplog.at_level("DEBUG", logger="tripwire"):
        assert list(make(Closing([1]), BrokenAdd())) == [1]
        assert list(make(Closing([1]), Acc(fail_result=True))) == [1]
    assert _failed_steps(caplog) == ["stream chunk", "stream result"]


def test_close_proxied_keeps_a_failing_close_away_from_the_app(
        env, caplog: pytest.LogCaptureFixture) -> None:
    make, exporter = env
    proxy = make(Closing([1], close_fails=True))
    with caplog.at_level("DEBUG", logger="tripwire"):
        assert close_proxied(proxy) is None
    assert _failed_steps(caplog) == ["stream helper close"]
    assert _one(exporter).attributes[semconv.ERROR_TYPE] == "Boom"


class Recording:
    """Records what its context-manager exits receive."""

    def __init__(self) -> None:
        self.exits: list[tuple[Any, Any, Any]] = []

    def __iter__(self) -> Recording:
        return self

    def __next__(self) -> Any:
        return 1

    def __anext__(self) -> Any:
        async def one() -> int:
            return 1
        return one()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.exits.append(exc)
        return False

    async def __aenter__(self) -> Recording:
        return self

    async def __aexit__(self, *exc: Any) -> bool:
        self.exits.append(exc)
        return False


def test_the_stream_exit_receives_the_exception(env) -> None:
    make, exporter = env
    stream = Recording()
    with pytest.raises(KeyError), make(stream) as proxy:
        next(proxy)
        raise KeyError("app bug")
    [(kind, exc, tb)] = stream.exits
    assert kind is KeyError and isinstance(exc, KeyError) and tb is not None
    assert _one(exporter).attributes[semconv.ERROR_TYPE] == "KeyError"


def test_the_async_stream_exit_receives_the_exception(env) -> None:
    make, exporter = env
    stream = Recording()

    async def run() -> None:
        async with make(stream) as proxy:
            await proxy.__anext__()
            raise KeyError("app bug")

    with pytest.raises(KeyError):
        asyncio.run(run())
    [(kind, exc, tb)] = stream.exits
    assert kind is KeyError and isinstance(exc, KeyError) and tb is not None
    span = _one(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"


def test_aclose_falls_back_to_an_async_close(env) -> None:
    make, exporter = env

    class CloseOnly:
        def __init__(self) -> None:
            self.closed = 0

        def __aiter__(self) -> CloseOnly:
            return self

        async def __anext__(self) -> Any:
            raise StopAsyncIteration

        async def close(self) -> str:
            self.closed += 1
            return "closed"

    stream = CloseOnly()
    assert asyncio.run(make(stream).aclose()) == "closed"
    assert stream.closed == 1
    assert len(exporter.get_finished_spans()) == 1
