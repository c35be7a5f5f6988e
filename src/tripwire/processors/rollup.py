"""Per-request rollup: LLM spans add to their trace's record; the local root gets the totals.

The local root ends after its children, so the totals are complete when it ends. Spans that
end after their local root (fire-and-forget tasks) start a new record and are not rolled up.

Unknown is never added as zero: a call without a cost counts in
``tripwire.trace.unpriced_calls``, and ``tripwire.trace.cost.usd`` is only set when at least
one call was priced (it is then the cost of the priced calls). A call missing a token count
counts in ``tripwire.trace.usage_unknown_calls``; a token total is only set when some call
reported that count. A call that failed without usage was not billed: it counts in
``tripwire.trace.llm_calls`` only. See docs/processors.md.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich
from tripwire.processors.cost import failed_without_usage


class RollupEnricher:
    name = "rollup"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        record = span.record
        if record is None:
            return False
        if span.is_priced_operation:
            cost = span.attributes.get(semconv.TRIPWIRE_COST_USD)
            priced = isinstance(cost, (int, float)) and not isinstance(cost, bool)
            inp, out = span.input_tokens, span.output_tokens
            unbilled = not priced and failed_without_usage(span)
            # an embeddings span has no output count to miss
            unknown = not unbilled and (inp is None or (out is None and span.is_inference))
            with span.state.traces.lock:
                record.llm_calls += 1
                if inp is not None:
                    record.input_tokens += inp
                    record.input_reported = True
                if out is not None:
                    record.output_tokens += out
                    record.output_reported = True
                if priced:
                    record.cost_usd += float(cost)  # type: ignore[arg-type]
                    record.priced_calls += 1
                elif not unbilled:
                    record.unpriced_calls += 1
                if unknown:
                    record.usage_unknown_calls += 1
        # An LLM span that is itself the local root (a script's single call) counts itself.
        if not span.is_local_root or record.llm_calls == 0:
            return False
        added[semconv.TRIPWIRE_TRACE_LLM_CALLS] = record.llm_calls
        if record.priced_calls:
            added[semconv.TRIPWIRE_TRACE_COST_USD] = record.cost_usd
        if record.unpriced_calls:
            added[semconv.TRIPWIRE_TRACE_UNPRICED_CALLS] = record.unpriced_calls
        if record.input_reported:
            added[semconv.TRIPWIRE_TRACE_INPUT_TOKENS] = record.input_tokens
        if record.output_reported:
            added[semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS] = record.output_tokens
        if record.usage_unknown_calls:
            added[semconv.TRIPWIRE_TRACE_USAGE_UNKNOWN_CALLS] = record.usage_unknown_calls
        return True
