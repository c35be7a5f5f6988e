"""Reading what retrievers return: documents as :class:`Hit` s with their ids and scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tripwire import semconv

_SIMILARITY_KEYS = ("score", "relevance_score", "similarity_score", "similarity")
_DISTANCE_KEYS = ("distance",)
_CONTENT_KEYS = ("page_content", "content", "text", "document")


@dataclass(frozen=True)
class Hit:
    """One retrieved document: its id, its score as the store returned it, its content."""

    id: Any = None
    score: float | None = None
    content: Any = None  # only read when content capture is on


def as_number(value: Any) -> float | None:
    """A score as a float; None for what is not a number (booleans, NaN included)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no score


def _lookup(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _first(item: Any, keys: Sequence[str]) -> tuple[str | None, Any]:
    for key in keys:
        value = _lookup(item, key)
        if value is not None:
            return key, value
    return None, None


def read_document(item: Any) -> tuple[Hit, str | None]:
    """A retrieved item as a :class:`Hit` and the kind of its score (None: no score).

    Reads dicts, objects and LangChain ``Document`` s (``id`` then ``metadata["id"]``;
    ``score`` / ``relevance_score`` / ``similarity_score`` / ``similarity`` are similarities,
    ``distance`` is a distance, also from ``metadata``), and ``(document, score)`` pairs as
    returned by ``similarity_search_with_score`` (taken as similarities).
    """
    if (isinstance(item, tuple) and len(item) == 2 and as_number(item[1]) is not None
            and not isinstance(item[0], (int, float))):
        inner, _ = read_document(item[0])
        return Hit(id=inner.id, score=as_number(item[1]), content=inner.content), \
            semconv.SCORE_KIND_SIMILARITY
    metadata = _lookup(item, "metadata")
    sources = [item] if not isinstance(metadata, Mapping) else [item, metadata]
    ids = (_lookup(source, "id") for source in sources)
    doc_id = next((found for found in ids if found is not None), None)
    score: float | None = None
    kind: str | None = None
    for source in sources:
        key, value = _first(source, _DISTANCE_KEYS)
        if key is not None and as_number(value) is not None:
            score, kind = as_number(value), semconv.SCORE_KIND_DISTANCE
            break
        key, value = _first(source, _SIMILARITY_KEYS)
        if key is not None and as_number(value) is not None:
            score, kind = as_number(value), semconv.SCORE_KIND_SIMILARITY
            break
    _, text = _first(item, _CONTENT_KEYS)
    if text is None and isinstance(item, str):
        text = item
    return Hit(id=doc_id, score=score, content=text), kind


def read_documents(items: Any) -> tuple[list[Hit], str | None]:
    """:func:`read_document` over a returned sequence; the score kind of the first scored item."""
    if items is None or isinstance(items, (str, bytes, Mapping)):
        items = [] if items is None else [items]
    hits: list[Hit] = []
    kind: str | None = None
    for item in items:
        hit, item_kind = read_document(item)
        hits.append(hit)
        kind = kind or item_kind
    return hits, kind
