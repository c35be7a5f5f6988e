"""Retrieval quality: the ``tripwire.retrieval.*`` attributes of one retrieval's hits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tripwire import semconv
from tripwire._core.documents import Hit, as_number
from tripwire._core.redaction import redact
from tripwire.runtime import get_settings

# Lists of document ids/scores on a span are capped; tripwire.retrieval.document_count keeps
# the true number.
MAX_RECORDED_DOCUMENTS = 256


def retrieval_attributes(hits: Sequence[Sequence[Hit]], score_kind: str | None) -> dict[str, Any]:
    """The ``tripwire.retrieval.*`` quality attributes of one retrieval (one list per query).

    ``low_relevance`` is true when the best hit of any query is past the threshold for its
    score kind (similarity below ``retrieval_min_similarity``, distance above
    ``retrieval_max_distance``); it is only set when the scores and their kind are known.
    """
    flat = [hit for query in hits for hit in query]
    attrs: dict[str, Any] = {
        semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: len(flat),
        semconv.TRIPWIRE_RETRIEVAL_EMPTY: not flat,
    }
    recorded = flat[:MAX_RECORDED_DOCUMENTS]
    if any(hit.id is not None for hit in recorded):
        ids = ["" if hit.id is None else str(hit.id) for hit in recorded]
        settings = get_settings()
        if settings.content_redaction or settings.redactor is not None:
            # Ids are recorded in every capture mode, and an id can be an e-mail address.
            ids = [redact(doc_id, settings.content_redaction, settings.redactor)
                   for doc_id in ids]
        attrs[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] = ids
    scores = [as_number(hit.score) for hit in flat]
    if flat and all(score is not None for score in scores):
        attrs[semconv.TRIPWIRE_RETRIEVAL_SCORES] = scores[:MAX_RECORDED_DOCUMENTS]
        if score_kind is not None:
            attrs[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] = score_kind
            attrs[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] = _low_relevance(hits, score_kind)
    return attrs


def _low_relevance(hits: Sequence[Sequence[Hit]], score_kind: str) -> bool:
    settings = get_settings()
    for query in hits:
        scores = [s for s in (as_number(hit.score) for hit in query) if s is not None]
        if not scores:
            continue
        if score_kind == semconv.SCORE_KIND_DISTANCE:
            if min(scores) > settings.retrieval_max_distance:
                return True
        elif max(scores) < settings.retrieval_min_similarity:
            return True
    return False


def document_json(hit: Hit) -> dict[str, Any]:
    """A hit as recorded in ``gen_ai.retrieval.documents`` (content capture only)."""
    doc: dict[str, Any] = {}
    if hit.id is not None:
        doc["id"] = str(hit.id)
    if hit.score is not None:
        doc["score"] = hit.score
    if hit.content is not None:
        doc["content"] = hit.content
    return doc
