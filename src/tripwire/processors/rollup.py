"""Per-request rollup: LLM spans add to their trace's record; the local root gets the totals.

The local root ends after its children, so the totals are complete when it ends. Spans that
end after their local root (fire-and-forget tasks) start a new record and are not rolled up.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich


class RollupEnricher:
    name = "rollup"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        record = span.record
        if record is None:
            return False
        if span.is_priced_operation:
            attrs = span.attributes
            inp = span.input_tokens or 0
            out = span.output_tokens or 0
            cost = attrs.get(semconv.TRIPWIRE_COST_USD)
            with span.state.traces.lock:
                record.llm_calls += 1
                record.input_tokens += inp
                record.output_tokens += out
                if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                    record.cost_usd += float(cost)
                elif attrs.get(semconv.TRIPWIRE_COST_UNPRICED):
                    record.unpriced_calls += 1
        # An LLM span that is itself the local root (a script's single call) counts itself.
        if not span.is_local_root or record.llm_calls == 0:
            return False
        added[semconv.TRIPWIRE_TRACE_COST_USD] = record.cost_usd
        added[semconv.TRIPWIRE_TRACE_LLM_CALLS] = record.llm_calls
        added[semconv.TRIPWIRE_TRACE_INPUT_TOKENS] = record.input_tokens
        added[semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS] = record.output_tokens
        if record.unpriced_calls:
            added[semconv.TRIPWIRE_TRACE_UNPRICED_CALLS] = record.unpriced_calls
        return True
