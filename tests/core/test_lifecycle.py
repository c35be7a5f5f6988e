"""The one span lifecycle and the one wrapper: every kind of span (LLM call, retrieval, tool)
starts, becomes current, ends exactly once and is wrapped through the same code."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv
from tripwire._core.arguments import bind_arguments
from tripwire._core.instrumentor import unwrap_method, wrap_targets
from tripwire._core.invocation import Request, Result
from tripwire._core.lifecycle import LiveSpan, MappedSpans, span_wrapper
from tripwire._core.operations import (
    FunctionMapping,
    Operation,
    OperationMapping,
    OperationResult,
    make_operation_telemetry,
)
from tripwire._core.telemetry import make_telemetry
from tripwire._core.wrapping import CallMapping
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture

_MODULE = "tripwire_lifecycle_fake_sdk"


class Boom(Exception):
    pass


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


class Recorded(LiveSpan[str]):
    """The smallest live span: records what it ended with."""

    __slots__ = ("ends",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self.ends: list[tuple[str | None, str | None]] = []
        super().__init__(tracer, "op", SpanKind.INTERNAL, {})

    def _record_end(self, result: str | None, error_type: str | None) -> None:
        self.ends.append((result, error_type))


class RecordedSpans(MappedSpans[trace.Tracer, None]):
    __slots__ = ()

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> Recorded | None:
        return None if kwargs.get("skip") else Recorded.try_start(self.telemetry)

    def complete(self, live: Recorded, result: Any) -> Any:
        live.finish(str(result))
        return result


def test_a_span_ends_once_whoever_ends_it_first(provider: TracerProvider,
                                                exporter: InMemorySpanExporter) -> None:
    live = Recorded(provider.get_tracer("t"))
    barrier = threading.Barrier(8)

    def end(i: int) -> None:
        barrier.wait()
        if i % 2:
            live.finish("done")
        else:
            live.fail(Boom("late"))

    threads = [threading.Thread(target=end, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert live.ended and len(live.ends) == 1
    assert len(exporter.get_finished_spans()) == 1


def test_failing_records_error_type_and_status(provider: TracerProvider,
                                               exporter: InMemorySpanExporter) -> None:
    live = Recorded(provider.get_tracer("t"))
    live.fail(Boom("no luck"), "partial")
    [span] = exporter.get_finished_spans()
    assert live.ends == [("partial", "Boom")]
    assert span.attributes[semconv.ERROR_TYPE] == "Boom"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Boom"  # capture off: the message is content


def test_with_capture_on_the_status_carries_the_message_redacted(
        provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY, content_redaction=("email",))
    Recorded(provider.get_tracer("t")).fail(Boom("no luck for ann@example.com"))
    [span] = exporter.get_finished_spans()
    assert span.status.description == "Boom: no luck for [REDACTED:email]"


def test_a_span_that_cannot_start_leaves_the_call_untraced(provider: TracerProvider) -> None:
    class Broken(Recorded):
        __slots__ = ()

        def __init__(self, tracer: trace.Tracer) -> None:
            raise RuntimeError("cannot start")

    assert Broken.try_start(provider.get_tracer("t")) is None


@pytest.mark.parametrize("is_async", [False, True])
def test_the_wrapper_is_current_during_the_call_and_hands_everything_back(
        provider: TracerProvider, exporter: InMemorySpanExporter, is_async: bool) -> None:
    wrapper = span_wrapper(RecordedSpans(provider.get_tracer("t"), None), is_async)
    seen: list[Any] = []

    def body(fail: bool = False, skip: bool = False) -> str:
        seen.append(trace.get_current_span().get_span_context().span_id)
        if fail:
            raise Boom("app error")
        return "answer"

    async def async_body(**kwargs: Any) -> str:
        return body(**kwargs)

    def call(**kwargs: Any) -> Any:
        if is_async:
            return asyncio.run(wrapper(async_body, None, (), kwargs))
        return wrapper(body, None, (), kwargs)

    assert call() == "answer"
    with pytest.raises(Boom, match="app error"):
        call(fail=True)
    assert call(skip=True) == "answer"  # start said no: passed through
    with suppress_instrumentation():
        assert call() == "answer"
    spans = exporter.get_finished_spans()
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET, StatusCode.ERROR]
    assert seen[:2] == [s.context.span_id for s in spans]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached again
    assert len(seen) == 4


# --- one wrap_targets for every kind of mapping ----------------------------------------------

class Store:
    def query(self, text: str, k: int = 2) -> list[dict[str, Any]]:
        return [{"id": "a", "score": 0.9}][:k]

    async def aquery(self, text: str, k: int = 2) -> list[dict[str, Any]]:
        return self.query(text, k)


class Client:
    def create(self, **kwargs: Any) -> str:
        return "hi"


class Derived(Client):
    """Inherits create: the target on it is not the class that defines it."""


@pytest.fixture
def fake_sdk() -> Iterator[types.ModuleType]:
    module = types.ModuleType(_MODULE)
    module.Store, module.Client, module.Derived = Store, Client, Derived  # type: ignore[attr-defined]
    sys.modules[_MODULE] = module
    yield module
    del sys.modules[_MODULE]


@FunctionMapping
def _store_mapping(fn: Any) -> OperationMapping:
    # made for the method as the class defines it: binds arguments by its parameter names
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        params = bind_arguments(fn, args, kwargs, method=True)
        return Operation(operation=semconv.OP_RETRIEVAL, name="kb", top_k=params.get("k"))

    return OperationMapping(build=build, parse_result=lambda result, op: OperationResult())


_CHAT = CallMapping(
    build_request=lambda instance, args, kwargs: Request("chat", "openai", kwargs.get("model")),
    parse_response=lambda result, request: Result(response_model="m-1"),
)


def test_every_mapping_is_wrapped_the_same_way(fake_sdk: types.ModuleType,
                                                provider: TracerProvider,
                                                exporter: InMemorySpanExporter) -> None:
    operations = make_operation_telemetry("t", provider)
    llm = make_telemetry("t", provider)
    wrapped = wrap_targets([
        (_MODULE, "Store", "query", _store_mapping),
        (("missing.module", _MODULE), "Store", "aquery", _store_mapping),
        (_MODULE, "Missing", "query", _store_mapping),
        (_MODULE, "Store", "missing", _store_mapping),
    ], operations)
    wrapped += wrap_targets([
        (_MODULE, "Client", "create", _CHAT),
        (("missing.module", _MODULE), "Client", "create", _CHAT),  # same class again: once
        (_MODULE, "Derived", "create", _CHAT),  # inherited: wrapped where it is defined
    ], llm)
    try:
        assert wrapped == [(Store, "query"), (Store, "aquery"), (Client, "create")]
        assert Store().query("q", k=1) == [{"id": "a", "score": 0.9}]
        assert asyncio.run(Store().aquery("q", 1)) == [{"id": "a", "score": 0.9}]
        assert Derived().create(model="m") == "hi"
    finally:
        for owner, name in wrapped:
            unwrap_method(owner, name)
    assert not isinstance(Store.__dict__["query"], wrapt.FunctionWrapper)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["retrieval kb", "retrieval kb", "chat m"]
    assert [s.attributes.get(semconv.GEN_AI_REQUEST_TOP_K_RETRIEVAL) for s in spans[:2]] == [1, 1]


def test_a_target_that_fails_to_wrap_is_skipped(fake_sdk: types.ModuleType,
                                                provider: TracerProvider,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(fn: Any) -> OperationMapping:
        raise RuntimeError("mapping factory failed")

    wrapped = wrap_targets([(_MODULE, "Store", "query", FunctionMapping(broken)),
                            (_MODULE, "Client", "create", _CHAT)],
                           make_telemetry("t", provider))
    try:
        assert wrapped == [(Client, "create")]
        assert "instrument Store.query" in caplog.text
    finally:
        for owner, name in wrapped:
            unwrap_method(owner, name)


def test_a_method_someone_else_wrapped_is_still_ours_too(fake_sdk: types.ModuleType,
                                                        provider: TracerProvider,
                                                        exporter: InMemorySpanExporter) -> None:
    wrapt.wrap_function_wrapper(Store, "query", lambda wrapped, i, a, k: wrapped(*a, **k))
    wrapped = wrap_targets([(_MODULE, "Store", "query", _store_mapping)],
                           make_operation_telemetry("t", provider))
    try:
        assert Store().query("q") == [{"id": "a", "score": 0.9}]
    finally:
        for owner, name in wrapped:
            unwrap_method(owner, name)
        unwrap_method(Store, "query")
    assert [s.name for s in exporter.get_finished_spans()] == ["retrieval kb"]
