"""Context window: limit, utilization (input tokens / limit) and a warning threshold."""

from __future__ import annotations

from tripwire import semconv
from tripwire.processors.base import Enrichment, SpanData


class ContextWindowEnricher:
    name = "context_window"

    def enrich(self, span: SpanData) -> Enrichment | None:
        if not span.is_inference:
            return None
        used = span.input_tokens
        if used is None:
            return None
        limit = span.price_and_window()[1]
        if not limit:
            return None
        utilization = used / limit
        span.instruments.context_window_utilization.record(
            utilization, span.shared_metric_attributes(), context=span.exemplar_context())
        return Enrichment({
            semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT: limit,
            semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION: round(utilization, 6),
            semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING: utilization >= span.settings.context_window_warning,
        })
