"""ChromaInstrumentor on a real ephemeral chromadb client with explicit embeddings."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

chromadb = pytest.importorskip("chromadb")

from opentelemetry.instrumentation.utils import suppress_instrumentation  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from tripwire import semconv  # noqa: E402
from tripwire.instrumentation.chromadb import ChromaInstrumentor  # noqa: E402
from tripwire.testing.fixtures import find_span, get_metric_points  # noqa: E402

INSTRUMENTOR = ChromaInstrumentor  # installed by the ``instrumented`` fixture (../conftest.py)

DOCS = {
    "refunds": ([1.0, 0.0, 0.0], "Refunds are paid within 14 days.", {"topic": "billing"}),
    "shipping": ([0.0, 1.0, 0.0], "We ship worldwide in 3-5 days.", {"topic": "logistics"}),
    "returns": ([0.7, 0.7, 0.0], "Returns need the original receipt.", {"topic": "billing"}),
}


@pytest.fixture(scope="module")
def client() -> Any:
    return chromadb.EphemeralClient()


@pytest.fixture
def collection(client: Any) -> Any:
    # embedding_function=None: nothing is ever downloaded; we pass embeddings ourselves.
    col = client.create_collection(f"kb-{uuid.uuid4().hex[:8]}", embedding_function=None,
                                   configuration={"hnsw": {"space": "cosine"}})
    col.add(ids=list(DOCS), embeddings=[v[0] for v in DOCS.values()],
            documents=[v[1] for v in DOCS.values()], metadatas=[v[2] for v in DOCS.values()])
    return col


def test_query_span_ids_distances_and_flags(instrumented: Any, collection: Any,
                                            span_exporter: Any, metric_reader: Any) -> None:
    result = collection.query(query_embeddings=[[1.0, 0.05, 0.0]], n_results=2)
    assert result["ids"] == [["refunds", "returns"]]  # the app's result is untouched
    span = find_span(span_exporter, f"retrieval {collection.name}")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_RETRIEVAL
    assert a[semconv.GEN_AI_DATA_SOURCE_ID] == collection.name
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 2
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["refunds", "returns"]
    scores = list(a[semconv.TRIPWIRE_RETRIEVAL_SCORES])
    assert scores == pytest.approx(result["distances"][0])
    assert scores[0] < scores[1]  # distances: closer first
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_DISTANCE
    assert a[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is False
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is False
    assert a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 2
    # content is off by default
    assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in a
    assert semconv.GEN_AI_RETRIEVAL_QUERY_TEXT not in a
    points = get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)
    assert len(points) == 1 and points[0].count == 1 and points[0].sum == 2
    assert points[0].attributes[semconv.GEN_AI_DATA_SOURCE_ID] == collection.name
    # the exemplar names the retrieval span
    assert [e.span_id for e in points[0].exemplars] == [span.context.span_id]


def test_low_relevance_uses_distance_threshold(instrumented: Any, collection: Any,
                                               span_exporter: Any, use_settings: Any) -> None:
    use_settings(retrieval_max_distance=0.2)
    collection.query(query_embeddings=[[0.0, 0.0, 1.0]], n_results=1)  # orthogonal: distance 1
    span = find_span(span_exporter, f"retrieval {collection.name}")
    assert span.attributes[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is True


def test_batch_query_flattens_and_records_one_point_per_query(
        instrumented: Any, collection: Any, span_exporter: Any, metric_reader: Any) -> None:
    collection.query(query_embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], n_results=1)
    span = find_span(span_exporter, f"retrieval {collection.name}")
    assert list(span.attributes[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["refunds",
                                                                              "shipping"]
    points = get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)
    assert points[0].count == 2 and points[0].sum == 2


def test_empty_result(instrumented: Any, collection: Any, span_exporter: Any) -> None:
    collection.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=2,
                     where={"topic": "nothing-like-this"})
    a = find_span(span_exporter, f"retrieval {collection.name}").attributes
    assert a[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is True
    assert a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 0
    assert semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE not in a


def test_content_capture(instrumented: Any, collection: Any, span_exporter: Any,
                         capture: Any) -> None:
    collection.query(query_embeddings=[[1.0, 0.0, 0.0]], query_texts=None, n_results=1)
    collection.get(where_document={"$contains": "receipt"})
    spans = span_exporter.get_finished_spans()
    docs = json.loads(spans[0].attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
    assert docs[0]["id"] == "refunds" and "14 days" in docs[0]["content"]
    assert isinstance(docs[0]["score"], float)
    filtered = spans[1].attributes
    assert json.loads(filtered[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT]) == {"$contains": "receipt"}
    assert list(filtered[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["returns"]


def test_get_only_with_filters_is_retrieval(instrumented: Any, collection: Any,
                                            span_exporter: Any) -> None:
    collection.get(ids=["refunds"])
    collection.get(limit=1)
    assert span_exporter.get_finished_spans() == ()
    collection.get(where={"topic": "billing"}, limit=5)
    a = find_span(span_exporter, f"retrieval {collection.name}").attributes
    assert sorted(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["refunds", "returns"]
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 5
    # a filter match has no score, so no relevance judgement either
    assert semconv.TRIPWIRE_RETRIEVAL_SCORES not in a
    assert semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE not in a


def test_error_is_recorded_and_reraised(instrumented: Any, collection: Any,
                                        span_exporter: Any) -> None:
    with pytest.raises(Exception) as raised:
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)  # wrong dimension
    span = find_span(span_exporter, f"retrieval {collection.name}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == type(raised.value).__qualname__


def test_suppression_and_uninstrument(instrumented: Any, collection: Any,
                                      span_exporter: Any) -> None:
    with suppress_instrumentation():
        collection.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1)
    assert span_exporter.get_finished_spans() == ()
    instrumented.uninstrument()
    assert not hasattr(type(collection).query, "__wrapped__")
    collection.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1)
    assert span_exporter.get_finished_spans() == ()
    instrumented.instrument()  # fixture teardown uninstruments again
