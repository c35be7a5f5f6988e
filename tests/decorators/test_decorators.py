"""``@tool`` / ``@retriever`` decorators, sync and async; loop flags via the enricher."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import decorators, semconv
from tripwire._core.tools import arguments_hash
from tripwire.decorators import retriever, tool
from tripwire.testing.fixtures import find_span, get_metric_points, spans_by_name


@pytest.fixture(autouse=True)
def providers(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    decorators.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield  # tests/conftest.py's reset gives the decorators the global providers back


@tool
def get_weather(city: str, unit: str = "C") -> str:
    """Current weather for a city.

    Longer notes that are not part of the description.
    """
    return f"18{unit} in {city}"


@tool(name="order_status")
async def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@tool
def takes_call_id(x: int, tool_call_id: str | None = None) -> str | None:
    return tool_call_id


@tool
def explode(x: int) -> int:
    raise KeyError("missing")


@dataclass
class Hit:
    id: str
    score: float


@retriever(data_source="kb")
def search_kb(query: str, k: int = 2) -> list[dict[str, Any]]:
    docs = [{"id": "d1", "score": 0.91, "text": "refunds"}, {"id": "d2", "score": 0.4}]
    return docs[:k]


@retriever(data_source="objects", score_kind="distance")
async def search_objects(query: str) -> list[Hit]:
    return [Hit("o1", 0.9), Hit("o2", 1.3)]


@retriever(data_source="nothing")
def search_nothing(query: str) -> list[Any]:
    return []


def test_tool_span(span_exporter: Any) -> None:
    assert get_weather("Paris") == "18C in Paris"
    assert get_weather.__name__ == "get_weather"
    span = find_span(span_exporter, "execute_tool get_weather")
    assert span.kind is SpanKind.INTERNAL
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_EXECUTE_TOOL
    assert a[semconv.GEN_AI_TOOL_TYPE] == semconv.TOOL_TYPE_FUNCTION
    assert a[semconv.GEN_AI_TOOL_DESCRIPTION] == "Current weather for a city."
    # positional and keyword calls hash the same bound arguments
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"city": "Paris"})
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in a
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in a


async def test_async_tool_with_name_and_call_id(span_exporter: Any) -> None:
    result = await lookup_order("o-7", tool_call_id="call_42")
    assert result["status"] == "shipped"
    a = find_span(span_exporter, "execute_tool order_status").attributes
    assert a[semconv.GEN_AI_TOOL_CALL_ID] == "call_42"
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"order_id": "o-7"})


def test_call_id_passed_through_when_declared(span_exporter: Any) -> None:
    assert takes_call_id(1, tool_call_id="call_7") == "call_7"
    a = find_span(span_exporter, "execute_tool takes_call_id").attributes
    assert a[semconv.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"x": 1})


def test_content_capture(span_exporter: Any, capture: Any) -> None:
    get_weather(city="Oslo", unit="F")
    a = find_span(span_exporter, "execute_tool get_weather").attributes
    assert json.loads(a[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Oslo", "unit": "F"}
    assert a[semconv.GEN_AI_TOOL_CALL_RESULT] == "18F in Oslo"


def test_tool_error(span_exporter: Any) -> None:
    with pytest.raises(KeyError):
        explode(1)
    span = find_span(span_exporter, "execute_tool explode")
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"
    assert span.status.status_code is StatusCode.ERROR


def test_retriever_dicts(span_exporter: Any, metric_reader: Any, use_settings: Any) -> None:
    use_settings(retrieval_min_similarity=0.95)
    assert len(search_kb("refund policy", k=2)) == 2
    span = find_span(span_exporter, "retrieval kb")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a[semconv.GEN_AI_DATA_SOURCE_ID] == "kb"
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 2
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["d1", "d2"]
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_SCORES]) == [0.91, 0.4]
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_SIMILARITY
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is True
    assert get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)[0].sum == 2


async def test_async_retriever_objects_as_distances(span_exporter: Any, capture: Any) -> None:
    await search_objects("q")
    a = find_span(span_exporter, "retrieval objects").attributes
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["o1", "o2"]
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_DISTANCE
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is False  # 0.9 <= max distance 1.0
    assert a[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "q"


def test_retriever_langchain_documents(span_exporter: Any) -> None:
    documents = pytest.importorskip("langchain_core.documents")

    @retriever(data_source="lc")
    def search(query: str) -> list[Any]:
        return [documents.Document(id="x", page_content="a", metadata={"relevance_score": 0.8}),
                (documents.Document(page_content="b", metadata={"id": "y"}), 0.7)]

    search("q")
    a = find_span(span_exporter, "retrieval lc").attributes
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["x", "y"]
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_SCORES]) == [0.8, 0.7]


def test_empty_retrieval(span_exporter: Any) -> None:
    search_nothing("q")
    a = find_span(span_exporter, "retrieval nothing").attributes
    assert a[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is True
    assert a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 0


def test_bad_score_kind() -> None:
    with pytest.raises(ValueError, match="score_kind"):
        retriever(data_source="x", score_kind="cosine")


def test_nested_tool_calls_nest_and_call_id_does_not_leak(span_exporter: Any) -> None:
    @tool
    def outer(city: str) -> str:
        return get_weather(city)

    outer("Paris", tool_call_id="call_outer")
    o = find_span(span_exporter, "execute_tool outer")
    inner = find_span(span_exporter, "execute_tool get_weather")
    assert inner.parent is not None and inner.parent.span_id == o.context.span_id
    assert o.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_outer"
    assert semconv.GEN_AI_TOOL_CALL_ID not in inner.attributes


def test_suppression(span_exporter: Any) -> None:
    with suppress_instrumentation():
        assert get_weather("Paris") == "18C in Paris"
        search_kb("q")
    assert span_exporter.get_finished_spans() == ()


def test_three_identical_calls_flag_a_loop(use_settings: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tripwire import processors  # our own module: a broken import fails

    use_settings(tool_loop_threshold=3)
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(processors.EnrichingSpanProcessor(
        SimpleSpanProcessor(exporter), meter_provider=MeterProvider(metric_readers=[reader])))
    decorators.configure(tracer_provider=provider)
    with provider.get_tracer("app").start_as_current_span("agent turn"):
        for _ in range(3):
            get_weather("Paris")
        get_weather("Rome")
    calls = spans_by_name(exporter)["execute_tool get_weather"]
    flags = [s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP) for s in calls]
    assert flags == [None, None, True, None]
    assert all(s.attributes[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] for s in calls)
