"""QdrantInstrumentor on the real qdrant-client in local ``:memory:`` mode, sync and async."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("qdrant_client")

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from tripwire import semconv
from tripwire.instrumentation.qdrant import QdrantInstrumentor
from tripwire.testing.fixtures import find_span, get_metric_points

POINTS = [
    models.PointStruct(id=1, vector=[1.0, 0.0], payload={"text": "refunds in 14 days", "g": "a"}),
    models.PointStruct(id=2, vector=[0.0, 1.0], payload={"text": "worldwide shipping", "g": "b"}),
    models.PointStruct(id=3, vector=[0.7, 0.7], payload={"text": "returns need receipt", "g": "a"}),
]


@pytest.fixture
def instrumented(tracer_provider: Any, meter_provider: Any) -> Iterator[QdrantInstrumentor]:
    inst = QdrantInstrumentor()
    inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                    distance_collections=["euclid"])
    yield inst
    inst.uninstrument()


@pytest.fixture
def client() -> QdrantClient:
    c = QdrantClient(":memory:")
    c.create_collection("kb", vectors_config=models.VectorParams(size=2,
                                                                 distance=models.Distance.COSINE))
    c.create_collection("euclid", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.EUCLID))
    c.upsert("kb", points=POINTS)
    c.upsert("euclid", points=POINTS)
    return c


def test_query_points(instrumented: Any, client: QdrantClient, span_exporter: Any,
                      metric_reader: Any) -> None:
    response = client.query_points("kb", query=[1.0, 0.1], limit=2)
    assert [p.id for p in response.points] == [1, 3]
    span = find_span(span_exporter, "retrieval kb")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_RETRIEVAL
    assert a[semconv.GEN_AI_DATA_SOURCE_ID] == "kb"
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 2
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["1", "3"]
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_SCORES]) == pytest.approx(
        [p.score for p in response.points])
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_SIMILARITY
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is False
    assert a[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is False
    assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in a
    points = get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)
    assert points[0].count == 1 and points[0].sum == 2


def test_default_limit_is_not_reported_as_sent(instrumented: Any, client: QdrantClient,
                                               span_exporter: Any) -> None:
    client.query_points("kb", query=[1.0, 0.0])
    assert semconv.GEN_AI_REQUEST_TOP_K not in find_span(span_exporter, "retrieval kb").attributes


def test_low_relevance_similarity_threshold(instrumented: Any, client: QdrantClient,
                                            span_exporter: Any, use_settings: Any) -> None:
    use_settings(retrieval_min_similarity=0.99)
    client.query_points("kb", query=[0.5, 0.6], limit=1)  # best cosine ~0.996 > 0.99
    client.query_points("kb", query=[-1.0, -0.2], limit=1)  # everything points away
    first, second = span_exporter.get_finished_spans()
    assert first.attributes[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is False
    assert second.attributes[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is True


def test_euclid_collection_declared_as_distance(instrumented: Any, client: QdrantClient,
                                                span_exporter: Any, use_settings: Any) -> None:
    use_settings(retrieval_max_distance=0.5)
    response = client.query_points("euclid", query=[1.0, 0.0], limit=2)
    assert response.points[0].score == pytest.approx(0.0)  # Qdrant returns the distance
    a = find_span(span_exporter, "retrieval euclid").attributes
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_DISTANCE
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is False


def test_batch_and_groups(instrumented: Any, client: QdrantClient, span_exporter: Any,
                          metric_reader: Any) -> None:
    client.query_batch_points("kb", requests=[
        models.QueryRequest(query=[1.0, 0.0], limit=1),
        models.QueryRequest(query=[0.0, 1.0], limit=1),
    ])
    client.query_points_groups("kb", query=[1.0, 0.0], group_by="g", limit=2, group_size=1)
    batch, groups = span_exporter.get_finished_spans()
    assert batch.name == groups.name == "retrieval kb"
    assert list(batch.attributes[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["1", "2"]
    assert semconv.GEN_AI_REQUEST_TOP_K not in batch.attributes
    assert groups.attributes[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 2
    assert groups.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2
    points = get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)
    assert points[0].count == 3 and points[0].sum == 4  # two batch queries + one groups query


def test_content_capture_with_payloads(instrumented: Any, client: QdrantClient,
                                       span_exporter: Any, capture: Any) -> None:
    client.query_points("kb", query=[1.0, 0.0], limit=1)
    docs = json.loads(find_span(span_exporter, "retrieval kb").attributes[
        semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
    assert docs == [{"id": "1", "score": pytest.approx(1.0),
                     "content": {"text": "refunds in 14 days", "g": "a"}}]


def test_missing_collection_error(instrumented: Any, client: QdrantClient,
                                  span_exporter: Any) -> None:
    with pytest.raises(ValueError):
        client.query_points("nope", query=[1.0, 0.0])
    span = find_span(span_exporter, "retrieval nope")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "ValueError"


async def test_async_client(instrumented: Any, span_exporter: Any) -> None:
    client = AsyncQdrantClient(":memory:")
    await client.create_collection("akb", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    await client.upsert("akb", points=POINTS)
    response = await client.query_points("akb", query=[1.0, 0.0], limit=1)
    assert response.points[0].id == 1
    a = find_span(span_exporter, "retrieval akb").attributes
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["1"]
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_SIMILARITY


def test_suppression_and_uninstrument(instrumented: Any, client: QdrantClient,
                                      span_exporter: Any) -> None:
    with suppress_instrumentation():
        client.query_points("kb", query=[1.0, 0.0])
    assert span_exporter.get_finished_spans() == ()
    instrumented.uninstrument()
    assert not hasattr(QdrantClient.query_points, "__wrapped__")
    assert not hasattr(AsyncQdrantClient.query_points, "__wrapped__")
    client.query_points("kb", query=[1.0, 0.0])
    assert span_exporter.get_finished_spans() == ()
    instrumented.instrument()
