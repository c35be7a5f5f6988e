"""Cost of inference and embedding spans from token usage and prices (cache-aware), at the
request's real terms: service tier, batch, fast mode, cache lifetime and the time of the call.

Unknown is never zero: a span without a usable count or price gets
``tripwire.cost.unpriced`` (with its reason), one that reports only one of its input and
output counts ``tripwire.usage.incomplete``; neither is charged as if it cost nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.agents import run_label
from tripwire.processors.base import SpanData, fused_enrich
from tripwire.processors.prices import PriceContext, Usage

# Where a span says which tier served it, then which one it asked for (first found wins).
_SERVED_TIER = (semconv.OPENAI_RESPONSE_SERVICE_TIER, semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER,
                semconv.TRIPWIRE_RESPONSE_SERVICE_TIER)
_REQUESTED_TIER = (semconv.OPENAI_REQUEST_SERVICE_TIER,
                   semconv.GEN_AI_OPENAI_REQUEST_SERVICE_TIER,
                   semconv.TRIPWIRE_REQUEST_SERVICE_TIER)
# Requested values that leave the choice to the provider: they say nothing about the price.
_NO_TIER = frozenset({"", "auto", "unspecified", "standard_only"})
_SPEED = (semconv.TRIPWIRE_RESPONSE_SPEED, semconv.TRIPWIRE_REQUEST_SPEED)


def _first_str(attrs: dict[str, Any], keys: tuple[str, ...], skip: frozenset[str]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value.lower() not in skip:
            return value.lower()
    return None


def price_context(attrs: dict[str, Any]) -> PriceContext:
    """The request terms a span carries, as genai-prices' ``price_context`` keys: the
    service tier served (else the one requested), ``processing=batch`` for a batch tier, the
    speed. Read from semconv and tripwire attributes, so spans of any instrumentor count."""
    tier = (_first_str(attrs, _SERVED_TIER, frozenset())
            or _first_str(attrs, _REQUESTED_TIER, _NO_TIER))
    speed = _first_str(attrs, _SPEED, _NO_TIER)
    if tier is None and speed is None:
        return ()
    terms: dict[str, str] = {}
    if tier is not None:
        terms["service_tier"] = tier
        if tier == "batch":
            terms["processing"] = "batch"
    if speed is not None:
        terms["speed"] = speed
    return tuple(sorted(terms.items()))


def usage_of(span: SpanData) -> Usage | None:
    inp, out = span.input_tokens, span.output_tokens
    if inp is None and out is None:
        return None
    write = span.token_attr(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS) or 0
    return Usage(
        input_tokens=inp or 0,
        output_tokens=out or 0,
        cache_read_tokens=span.token_attr(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) or 0,
        cache_write_tokens=write,
        cache_write_1h_tokens=(
            span.token_attr(semconv.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS) or 0
            if write else 0),
    )


def usage_incomplete(span: SpanData) -> bool:
    """An inference span with one of its input and output counts and not the other (an
    embeddings span has no output count to miss)."""
    return span.is_inference and (span.input_tokens is None) != (span.output_tokens is None)


def failed_without_usage(span: SpanData) -> bool:
    """A call that failed and reported no usage: the provider billed nothing we can see, so
    it is neither priced nor unpriced (a stream cut short has an estimate instead)."""
    return (span.input_tokens is None and span.output_tokens is None
            and semconv.ERROR_TYPE in span.attributes)


def _unpriced(span: SpanData, added: dict[str, Any], reason: str) -> None:
    """Flag a call that cannot be priced and count it in ``tripwire.unpriced_calls`` (the
    cost counter adds nothing for it: unknown is never zero)."""
    added[semconv.TRIPWIRE_COST_UNPRICED] = True
    added[semconv.TRIPWIRE_COST_UNPRICED_REASON] = reason
    span.instruments.unpriced_calls.add(1, {**span.shared_metric_attributes(),
                                            semconv.TRIPWIRE_COST_UNPRICED_REASON: reason})


class CostEnricher:
    """``tripwire.cost.usd`` + ``tripwire.cost.source`` + ``tripwire.cost.tier``, or
    ``tripwire.cost.unpriced`` + ``tripwire.cost.unpriced_reason``.

    The response model (a dated snapshot) is priced first, then the request model. A cost
    already on the span (an instrumentor that got it from the provider) is kept and counted.
    """

    name = "cost"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        if not span.is_priced_operation:
            return False
        wrote = self._cost(span, added)
        attrs = span.attributes
        if span.usage_invalid and semconv.TRIPWIRE_USAGE_INVALID not in attrs:
            added[semconv.TRIPWIRE_USAGE_INVALID] = True
            wrote = True
        if usage_incomplete(span) and semconv.TRIPWIRE_USAGE_INCOMPLETE not in attrs:
            added[semconv.TRIPWIRE_USAGE_INCOMPLETE] = True
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
            if failed_without_usage(span):
                return False
            _unpriced(span, added, semconv.UNPRICED_REASON_UNKNOWN_USAGE)
            return True
        price = span.price_and_window()[0]
        if price is None or not price.priced:
            _unpriced(span, added, semconv.UNPRICED_REASON_UNKNOWN_MODEL)
            return True
        terms = price_context(attrs) if price.overlay is None else ()
        when = None
        if price.time_dependent or terms:
            start = span.span.start_time
            when = datetime.fromtimestamp(start / 1e9, timezone.utc) if start else None
        usd = float(price.cost(usage, when, terms))
        self._count(span, usd)
        added[semconv.TRIPWIRE_COST_USD] = usd
        added[semconv.TRIPWIRE_COST_SOURCE] = price.source
        if price.overlay is None:  # a negotiated price has no tiers
            added[semconv.TRIPWIRE_COST_TIER] = price.tier(terms, when)
        return True

    @staticmethod
    def _count(span: SpanData, usd: float) -> None:
        if usd > 0:
            attrs = span.shared_metric_attributes()
            run = run_label(span)  # the agent run the call belongs to (cost per agent)
            span.instruments.cost.add(usd, {**attrs, run[0]: run[1]} if run else attrs)
