"""Cost of inference and embedding spans from token usage and prices (cache-aware)."""

from __future__ import annotations

from datetime import datetime, timezone

from tripwire import semconv
from tripwire.processors.base import Enrichment, SpanData
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

    def enrich(self, span: SpanData) -> Enrichment | None:
        if not span.is_priced_operation:
            return None
        result = self._cost(span)
        if span.usage_invalid and semconv.TRIPWIRE_USAGE_INVALID not in span.attributes:
            result = result or Enrichment()
            result.attributes[semconv.TRIPWIRE_USAGE_INVALID] = True
        return result

    def _cost(self, span: SpanData) -> Enrichment | None:
        attrs = span.attributes
        existing = attrs.get(semconv.TRIPWIRE_COST_USD)
        if isinstance(existing, (int, float)) and not isinstance(existing, bool):
            self._count(span, float(existing))
            return None  # a negative or non-finite one is never counted (budget: see there)
        usage = usage_of(span)
        if usage is None:
            return None
        price = span.price_and_window()[0]
        if price is None or not price.priced:
            return Enrichment({semconv.TRIPWIRE_COST_UNPRICED: True})
        when = None
        if price.time_dependent:
            start = span.span.start_time
            when = datetime.fromtimestamp(start / 1e9, timezone.utc) if start else None
        usd = float(price.cost(usage, when))
        self._count(span, usd)
        return Enrichment({semconv.TRIPWIRE_COST_USD: usd, semconv.TRIPWIRE_COST_SOURCE: price.source})

    @staticmethod
    def _count(span: SpanData, usd: float) -> None:
        if usd > 0:
            span.instruments.cost.add(usd, span.shared_metric_attributes())
