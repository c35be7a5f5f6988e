"""Cost of inference and embedding spans from token usage and prices (cache-aware)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich
from tripwire.processors.prices import Usage


def usage_of(span: SpanData) -> Usage | None:
    inp, out = span.input_tokens, span.output_tokens
    if inp is None and out is None:
        return None
    return Usage(
        input_tokens=inp or 0,
        output_tokens=out or 0,
        cache_read_tokens=span.token_attr(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) or 0,
        cache_write_tokens=span.token_attr(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS) or 0,
    )


class CostEnricher:
    """``tripwire.cost.usd`` + ``tripwire.cost.source``, or ``tripwire.cost.unpriced``.

    The response model (a dated snapshot) is priced first, then the request model. A cost
    already on the span (an instrumentor that got it from the provider) is kept and counted.
    """

    name = "cost"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        if not span.is_priced_operation:
            return False
        wrote = self._cost(span, added)
        if span.usage_invalid and semconv.TRIPWIRE_USAGE_INVALID not in span.attributes:
            added[semconv.TRIPWIRE_USAGE_INVALID] = True
            wrote = True
        return wrote

    def _cost(self, span: SpanData, added: dict[str, Any]) -> bool:
        attrs = span.attributes
        existing = attrs.get(semconv.TRIPWIRE_COST_USD)
        if isinstance(existing, (int, float)) and not isinstance(existing, bool):
            self._count(span, float(existing))
            return False  # a negative or non-finite one is never counted (budget: see there)
        usage = usage_of(span)
        if usage is None:
            return False
        price = span.price_and_window()[0]
        if price is None or not price.priced:
            added[semconv.TRIPWIRE_COST_UNPRICED] = True
            return True
        when = None
        if price.time_dependent:
            start = span.span.start_time
            when = datetime.fromtimestamp(start / 1e9, timezone.utc) if start else None
        usd = float(price.cost(usage, when))
        self._count(span, usd)
        added[semconv.TRIPWIRE_COST_USD] = usd
        added[semconv.TRIPWIRE_COST_SOURCE] = price.source
        return True

    @staticmethod
    def _count(span: SpanData, usd: float) -> None:
        if usd > 0:
            span.instruments.cost.add(usd, span.shared_metric_attributes())
