"""OpenTelemetry instrumentation for ``chromadb``: one ``retrieval {collection}`` span per query.

Usage::

    from tripwire.instrumentation.chromadb import ChromaInstrumentor
    ChromaInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``Collection.query`` and ``AsyncCollection.query`` (nearest-neighbour search; scores
are Chroma's *distances*: smaller is closer) and ``Collection.get`` / ``AsyncCollection.get``
when called with a ``where`` or ``where_document`` filter and no ``ids`` (a filter search
used as retrieval; no scores). ``get`` by ids, paging and bookkeeping reads are not
retrievals and get no span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire import semconv
from tripwire._core.arguments import as_int, bind_arguments
from tripwire._core.documents import Hit
from tripwire._core.fields import get
from tripwire._core.instrumentor import OperationInstrumentor, Target
from tripwire._core.operations import (
    FunctionMapping,
    Operation,
    OperationMapping,
    OperationResult,
)
from tripwire.instrumentation.chromadb.package import _instruments


def _collection_name(collection: Any) -> str:
    name = getattr(collection, "name", None)
    return str(name) if name else "chromadb"


def _query_text(texts: Any) -> Any:
    if texts is None:
        return None
    if isinstance(texts, str):
        return texts
    texts = list(texts)
    return texts[0] if len(texts) == 1 else texts


def _rows(value: Any) -> list[Any]:
    return list(value) if value is not None else []


@FunctionMapping
def _query_mapping(fn: Callable[..., Any]) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        params = bind_arguments(fn, args, kwargs, method=True)
        texts = params.get("query_texts")
        return Operation(
            operation=semconv.OP_RETRIEVAL,
            name=_collection_name(instance),
            top_k=as_int(params.get("n_results")),
            score_kind=semconv.SCORE_KIND_DISTANCE,
            query_text=(lambda: _query_text(texts)) if texts is not None else None,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        ids = _rows(get(result, "ids"))
        distances = _rows(get(result, "distances"))
        documents = _rows(get(result, "documents"))
        hits: list[list[Hit]] = []
        for q, query_ids in enumerate(ids):
            query_ids = _rows(query_ids)
            q_dist = _rows(distances[q]) if q < len(distances) else []
            q_docs = _rows(documents[q]) if q < len(documents) else []
            hits.append([
                Hit(
                    id=doc_id,
                    score=q_dist[i] if i < len(q_dist) else None,
                    content=q_docs[i] if i < len(q_docs) else None,
                )
                for i, doc_id in enumerate(query_ids)
            ])
        return OperationResult(hits=hits)

    return OperationMapping(build=build, parse_result=parse)


@FunctionMapping
def _get_mapping(fn: Callable[..., Any]) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation | None:
        params = bind_arguments(fn, args, kwargs, method=True)
        if params.get("ids") is not None:
            return None
        if params.get("where") is None and params.get("where_document") is None:
            return None
        where_document = params.get("where_document")
        return Operation(
            operation=semconv.OP_RETRIEVAL,
            name=_collection_name(instance),
            top_k=as_int(params.get("limit")),
            query_text=(lambda: where_document) if where_document is not None else None,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        ids = _rows(get(result, "ids"))
        documents = _rows(get(result, "documents"))
        return OperationResult(hits=[[
            Hit(id=doc_id, content=documents[i] if i < len(documents) else None)
            for i, doc_id in enumerate(ids)
        ]])

    return OperationMapping(build=build, parse_result=parse)


_TARGETS: tuple[Target, ...] = (
    ("chromadb.api.models.Collection", "Collection", "query", _query_mapping),
    ("chromadb.api.models.Collection", "Collection", "get", _get_mapping),
    ("chromadb.api.models.AsyncCollection", "AsyncCollection", "query", _query_mapping),
    ("chromadb.api.models.AsyncCollection", "AsyncCollection", "get", _get_mapping),
)


class ChromaInstrumentor(OperationInstrumentor):
    """Retrieval spans and quality flags for ``chromadb`` collections."""

    instruments = _instruments
    targets = _TARGETS


__all__ = ["ChromaInstrumentor"]
