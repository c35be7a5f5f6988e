"""Context window: limit, utilization (input tokens / limit) and a warning threshold."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich


class ContextWindowEnricher:
    name = "context_window"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        used = span.input_tokens
        if (not span.is_inference or used is None
                or not (limit := span.price_and_window()[1])):
            return False
        utilization = used / limit
        span.instruments.context_window_utilization.record(
            utilization, span.shared_metric_attributes(), context=span.exemplar_context())
        warning = utilization >= span.settings.context_window_warning
        added[semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT] = limit
        added[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] = round(utilization, 6)
        added[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] = warning
        return True
