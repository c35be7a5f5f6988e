"""LangChainInstrumentor on real langchain-core retrievers; nesting over Chroma."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import InMemoryVectorStore
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv
from tripwire.instrumentation.chromadb import ChromaInstrumentor
from tripwire.instrumentation.langchain import LangChainInstrumentor
from tripwire.testing.fixtures import find_span, get_metric_points

INSTRUMENTOR = LangChainInstrumentor  # installed by the ``instrumented`` fixture (../conftest.py)

VECTORS = {"refund": [1.0, 0.0], "ship": [0.0, 1.0], "return": [0.7, 0.7]}


class KeywordEmbeddings(Embeddings):
    """Deterministic, local: a text's vector is that of the first keyword it contains."""

    def _one(self, text: str) -> list[float]:
        for word, vector in VECTORS.items():
            if word in text.lower():
                return vector
        return [-1.0, -1.0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


class ListRetriever(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [d for d in self.docs if query in d.page_content]


class FailingRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        raise LookupError("index offline")


class ChromaRetriever(BaseRetriever):
    """A LangChain retriever backed by a real Chroma collection."""

    collection: Any
    k: int = 2

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        vector = KeywordEmbeddings().embed_query(query)
        res = self.collection.query(query_embeddings=[vector], n_results=self.k)
        return [Document(id=i, page_content=d, metadata={"distance": s})
                for i, d, s in zip(res["ids"][0], res["documents"][0], res["distances"][0])]


def _store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(KeywordEmbeddings())
    store.add_documents([Document(id="d-refund", page_content="Refunds take 14 days"),
                         Document(id="d-ship", page_content="We ship worldwide")])
    return store


def test_vector_store_retriever(instrumented: Any, span_exporter: Any,
                                metric_reader: Any) -> None:
    retriever = _store().as_retriever(search_kwargs={"k": 1})
    docs = retriever.invoke("refund policy")
    assert [d.id for d in docs] == ["d-refund"]
    span = find_span(span_exporter, "retrieval VectorStoreRetriever")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a[semconv.GEN_AI_DATA_SOURCE_ID] == "VectorStoreRetriever"
    assert a[semconv.GEN_AI_REQUEST_TOP_K] == 1
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["d-refund"]
    assert a[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is False
    assert semconv.GEN_AI_RETRIEVAL_QUERY_TEXT not in a
    assert get_metric_points(metric_reader, semconv.METRIC_RETRIEVAL_DOCUMENTS)[0].sum == 1


def test_named_retriever_with_relevance_scores(instrumented: Any, span_exporter: Any,
                                               use_settings: Any) -> None:
    use_settings(retrieval_min_similarity=0.8)
    docs = [Document(id="a", page_content="alpha", metadata={"relevance_score": 0.42}),
            Document(page_content="alpha beta", metadata={"id": "b", "relevance_score": 0.3})]
    ListRetriever(docs=docs, name="faq").invoke("alpha")
    a = find_span(span_exporter, "retrieval faq").attributes
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS]) == ["a", "b"]
    assert list(a[semconv.TRIPWIRE_RETRIEVAL_SCORES]) == [0.42, 0.3]
    assert a[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_SIMILARITY
    assert a[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] is True


def test_empty_and_content_capture(instrumented: Any, span_exporter: Any, capture: Any) -> None:
    ListRetriever(docs=[Document(id="a", page_content="alpha")]).invoke("zeta")
    ListRetriever(docs=[Document(id="a", page_content="alpha")]).invoke("alpha")
    empty, found = span_exporter.get_finished_spans()
    assert empty.attributes[semconv.TRIPWIRE_RETRIEVAL_EMPTY] is True
    assert empty.attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "zeta"
    assert json.loads(found.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
        {"id": "a", "content": "alpha"}]


async def test_ainvoke(instrumented: Any, span_exporter: Any) -> None:
    docs = await _store().as_retriever(search_kwargs={"k": 2}).ainvoke("shipping")
    assert len(docs) == 2
    span = find_span(span_exporter, "retrieval VectorStoreRetriever")
    assert span.attributes[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT] == 2


def test_error(instrumented: Any, span_exporter: Any) -> None:
    with pytest.raises(LookupError, match="index offline"):
        FailingRetriever().invoke("q")
    span = find_span(span_exporter, "retrieval FailingRetriever")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "LookupError"


def test_retriever_over_chroma_nests_both_spans(instrumented: Any, tracer_provider: Any,
                                                meter_provider: Any, span_exporter: Any) -> None:
    chromadb = pytest.importorskip("chromadb")
    chroma = ChromaInstrumentor()
    chroma.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        col = chromadb.EphemeralClient().create_collection(
            f"lc-{uuid.uuid4().hex[:8]}", embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}})
        col.add(ids=list(VECTORS), embeddings=list(VECTORS.values()),
                documents=[f"about {w}" for w in VECTORS])
        ChromaRetriever(collection=col, name="support-kb").invoke("refund please")
    finally:
        chroma.uninstrument()
    outer = find_span(span_exporter, "retrieval support-kb")
    inner = find_span(span_exporter, f"retrieval {col.name}")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert inner.context.trace_id == outer.context.trace_id
    assert outer.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2
    # the retriever reports the distances it put in metadata, as distances
    assert outer.attributes[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] == semconv.SCORE_KIND_DISTANCE
    assert outer.attributes[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS][0] == "refund"


def test_suppression_and_uninstrument(instrumented: Any, span_exporter: Any) -> None:
    retriever = ListRetriever(docs=[])
    with suppress_instrumentation():
        retriever.invoke("q")
    assert span_exporter.get_finished_spans() == ()
    instrumented.uninstrument()
    assert not hasattr(BaseRetriever.invoke, "__wrapped__")
    retriever.invoke("q")
    assert span_exporter.get_finished_spans() == ()
    instrumented.instrument()
