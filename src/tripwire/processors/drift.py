"""Model drift: floating aliases, and the snapshot behind a requested name changing."""

from __future__ import annotations

import functools
import re
from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, event, fused_enrich

# A pinned snapshot: a date (2024-08-06, 20240806, @20240620), an OpenAI-style 4-digit
# mmdd (gpt-4-0613), a numbered version (gemini-1.5-pro-002, bedrock -v1:0), a preview date
# (gemini-2.5-pro-preview-05-06).
_DATED = re.compile(
    r"(?:[-_@](?:19|20)\d{2}-?\d{2}-?\d{2}"
    r"|-(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?=$|[-:])"
    r"|-\d{3}$"
    r"|-v\d+(?::\d+)?$"
    r"|-preview-\d{2}-\d{2}"
    r"|-exp-\d{4})",
    re.IGNORECASE,
)


def looks_pinned(model: str) -> bool:
    return bool(_DATED.search(model))


def _model_of(path: str) -> str:
    # Vertex and Gemini answer with a path (publishers/google/models/NAME): the model is its
    # last segment; a date elsewhere in it (a project id) is not the model's.
    return path.rpartition("/")[2]


@functools.lru_cache(maxsize=4096)  # pure in two strings; bounded
def is_floating_alias(request: str, response: str | None) -> bool | None:
    """True: the request named an alias the provider resolved to a snapshot. None: unknown."""
    if looks_pinned(request):
        return False
    if request.lower().endswith("-latest"):
        return True
    if not response:
        return None
    # No separate "same name as requested" case: the request is not pinned (checked above),
    # so neither is the same name in any case (the pattern ignores case, has no start anchor).
    return looks_pinned(_model_of(response))


class DriftEnricher:
    name = "drift"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        request = span.request_model
        if not span.is_inference or not request:
            return False
        response = span.response_model
        floating = is_floating_alias(request, response)
        out: dict[str, object] = {}
        if floating is not None:
            out[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] = floating
        if response:
            # History per provider and requested name (provider None: its own history).
            key = (span.provider, request)
            table = span.state.drift
            with table.lock:
                previous = table.get(key)  # (also refreshes the entry's age and LRU position)
                if previous != response:
                    table.set(key, response)
            if previous is not None:
                changed = previous != response
                out[semconv.TRIPWIRE_MODEL_CHANGED] = changed
                if changed:
                    out[semconv.TRIPWIRE_MODEL_PREVIOUS] = previous
                    span.instruments.model_changes.add(1, span.shared_metric_attributes())
                    events.append(event(semconv.EVENT_MODEL_CHANGED, span.end_time, {
                        semconv.GEN_AI_REQUEST_MODEL: request,
                        semconv.GEN_AI_RESPONSE_MODEL: response,
                        semconv.TRIPWIRE_MODEL_PREVIOUS: previous,
                    }))
        added.update(out)
        return bool(out)
