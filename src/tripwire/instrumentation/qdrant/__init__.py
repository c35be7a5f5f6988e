"""OpenTelemetry instrumentation for ``qdrant-client``: one ``retrieval {collection}`` span per
search call on ``QdrantClient`` and ``AsyncQdrantClient`` (remote and local ``:memory:`` modes).

Usage::

    from tripwire.instrumentation.qdrant import QdrantInstrumentor
    QdrantInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``query_points``, ``query_batch_points``, ``query_points_groups`` and, on client
versions that still have them, ``search``, ``search_batch``, ``search_groups``, ``recommend``,
``recommend_batch``, ``recommend_groups``, ``discover`` and ``discover_batch``.

Scores are recorded as Qdrant returns them and marked ``similarity`` (cosine, dot product:
higher is closer). Collections using ``Euclid`` or ``Manhattan`` distance return *distances*
(lower is closer); declare them with ``instrument(distance_collections={"name", ...})`` so
that ``tripwire.retrieval.low_relevance`` uses the distance threshold for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tripwire import semconv
from tripwire._core.arguments import as_int, bind_arguments
from tripwire._core.documents import Hit
from tripwire._core.instrumentor import OperationInstrumentor, Target, Wrapped, wrap_targets
from tripwire._core.operations import (
    FunctionMapping,
    Operation,
    OperationMapping,
    OperationResult,
)
from tripwire.instrumentation.qdrant.package import _instruments

_SINGLE = ("query_points", "search", "recommend", "discover")
_BATCH = ("query_batch_points", "search_batch", "recommend_batch", "discover_batch")
_GROUPS = ("query_points_groups", "search_groups", "recommend_groups")
_CLIENTS = (
    ("qdrant_client.qdrant_client", "QdrantClient"),
    ("qdrant_client.async_qdrant_client", "AsyncQdrantClient"),
)


def _hit(point: Any) -> Hit:
    return Hit(id=getattr(point, "id", None), score=getattr(point, "score", None),
               content=getattr(point, "payload", None))


def _points(value: Any) -> list[Hit]:
    """Hits of one query: a QueryResponse, a GroupsResult or a list of ScoredPoint."""
    if value is None:
        return []
    points = getattr(value, "points", None)
    if points is not None:
        return [_hit(p) for p in points]
    groups = getattr(value, "groups", None)
    if groups is not None:
        return [_hit(p) for group in groups for p in (getattr(group, "hits", None) or [])]
    if isinstance(value, (list, tuple)):
        return [_hit(p) for p in value]
    return []


def _query_text(query: Any) -> Any:
    """Text of a query that has one (an inference ``Document``); vectors and ids are not text."""
    text = getattr(query, "text", None)
    return text if isinstance(text, str) else None


def _mapping_factory(method: str, distance_collections: frozenset[str]) -> FunctionMapping:
    batch = method in _BATCH

    def factory(fn: Callable[..., Any]) -> OperationMapping:
        def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
            params = bind_arguments(fn, args, kwargs, method=True)
            collection = str(params.get("collection_name") or "qdrant")
            query = params.get("query", params.get("query_vector"))
            text = _query_text(query) if not batch else None
            return Operation(
                operation=semconv.OP_RETRIEVAL,
                name=collection,
                top_k=None if batch else as_int(params.get("limit")),
                score_kind=(semconv.SCORE_KIND_DISTANCE if collection in distance_collections
                            else semconv.SCORE_KIND_SIMILARITY),
                query_text=(lambda: text) if text is not None else None,
            )

        def parse(result: Any, op: Operation) -> OperationResult:
            if batch:
                return OperationResult(hits=[_points(item) for item in (result or [])])
            return OperationResult(hits=[_points(result)])

        return OperationMapping(build=build, parse_result=parse)

    return FunctionMapping(factory)


def _targets(distance_collections: frozenset[str]) -> tuple[Target, ...]:
    return tuple(
        (module, cls, method, _mapping_factory(method, distance_collections))
        for module, cls in _CLIENTS
        for method in (*_SINGLE, *_BATCH, *_GROUPS)
    )


class QdrantInstrumentor(OperationInstrumentor):
    """Retrieval spans and quality flags for ``qdrant-client``.

    ``instrument(distance_collections=[...])`` names collections whose scores are distances
    (Euclid, Manhattan).
    """

    instruments = _instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        names: Iterable[str] = kwargs.get("distance_collections") or ()
        return wrap_targets(_targets(frozenset(names)), self._telemetry(kwargs))


__all__ = ["QdrantInstrumentor"]
