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


def _base(model: str) -> str:
    name = model.lower()
    for prefix in ("models/", "publishers/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.rsplit("/", 1)[-1]


@functools.lru_cache(maxsize=4096)  # pure in two strings; bounded
def is_floating_alias(request: str, response: str | None) -> bool | None:
    """True: the request named an alias the provider resolved to a snapshot. None: unknown."""
    if looks_pinned(request):
        return False
    if request.lower().endswith("-latest"):
        return True
    if not response:
        return None
    req, resp = _base(request), _base(response)
    if req == resp:
        return False
    return looks_pinned(resp)


class DriftEnricher:
    name = "drift"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        if not span.is_inference:
            return False
        request, response = span.request_model, span.response_model
        if not request:
            return False
        floating = is_floating_alias(request, response)
        if not response:
            if floating is None:
                return False
            added[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] = floating
            return True
        out: dict[str, object] = {}
        if floating is not None:
            out[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] = floating
        key = (span.provider or "", request)
        table = span.state.drift
        with table.lock:
            previous = table.get(key)  # (also refreshes the entry's age and LRU position)
            if previous != response:
                table.set(key, response)
        if previous is not None and previous != response:
            out[semconv.TRIPWIRE_MODEL_CHANGED] = True
            out[semconv.TRIPWIRE_MODEL_PREVIOUS] = previous
            details = {
                semconv.GEN_AI_REQUEST_MODEL: request,
                semconv.GEN_AI_RESPONSE_MODEL: response,
                semconv.TRIPWIRE_MODEL_PREVIOUS: previous,
            }
            span.instruments.model_changes.add(1, span.shared_metric_attributes())
            changed = event(semconv.EVENT_MODEL_CHANGED, span.end_time, details)
            added.update(out)
            events.append(changed)
            return True
        if previous is not None:
            out[semconv.TRIPWIRE_MODEL_CHANGED] = False
        if not out:
            return False
        added.update(out)
        return True
