"""Budgets: charge each LLM span to its scopes, flag crossings and warnings, mark the root."""

from __future__ import annotations

import math
from typing import Any

from tripwire import semconv
from tripwire.processors.base import Enrichment, SpanData, event
from tripwire.processors.ledger import (
    USER_KEYS,
    Crossing,
    LedgerUnavailable,
    ScopeKeys,
    Spend,
    agent_run_keys,
    crossings,
    scopes,
    settle_blocks,
)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def limit_attributes(crossing: Crossing) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.TRIPWIRE_BUDGET_NAME: crossing.rule.name,
        semconv.TRIPWIRE_BUDGET_SCOPE: crossing.rule.scope,
    }
    if crossing.rule.usd is not None:
        attrs[semconv.TRIPWIRE_BUDGET_LIMIT_USD] = crossing.rule.usd
    if crossing.rule.tokens is not None:
        attrs[semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS] = crossing.rule.tokens
    return attrs


def _event_attrs(crossing: Crossing) -> dict[str, Any]:
    attrs = limit_attributes(crossing)
    key = (semconv.TRIPWIRE_BUDGET_SPENT_USD if crossing.unit == "usd"
           else semconv.TRIPWIRE_BUDGET_SPENT_TOKENS)
    attrs[key] = crossing.spent
    return attrs


class BudgetEnricher:
    """Charges cost and tokens to the trace, conversation, user, feature, global and block
    budgets that apply; flags the span that crossed a limit and the trace's local root."""

    name = "budget"

    def enrich(self, span: SpanData) -> Enrichment | None:
        table = span.state.span_blocks
        blocks = (table.pop((span.trace_id, _span_id(span))) or ()) if len(table) else ()
        record = span.record
        root_exceeded = (span.is_local_root and record is not None
                         and record.budget_exceeded is not None)
        if not span.is_priced_operation and not root_exceeded:
            return None  # the common early exit: nothing to charge or to mark
        result = Enrichment()
        if span.is_priced_operation:
            self._charge(span, blocks, result)
        if root_exceeded and record is not None:
            result.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] = True
            for key, value in limit_attributes(record.budget_exceeded).items():
                result.attributes.setdefault(key, value)
        return result if result.attributes or result.events else None

    def _charge(self, span: SpanData, blocks: tuple[Any, ...], result: Enrichment) -> None:
        attrs = span.attributes
        cost = attrs.get(semconv.TRIPWIRE_COST_USD)
        usd = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else 0.0
        if not 0 < usd < math.inf:
            usd = 0.0  # a negative cost never credits a budget; NaN or infinity is not a cost
        tokens = (span.input_tokens or 0) + (span.output_tokens or 0)
        # No cost known (no price, or no usage): never charged as if it cost nothing.
        unpriced = usd <= 0 and attrs.get(semconv.TRIPWIRE_COST_UNPRICED) is True
        if usd <= 0 and tokens <= 0 and not unpriced:
            return
        record = span.record
        conversation = _str(attrs.get(semconv.GEN_AI_CONVERSATION_ID))
        user = None
        for key in USER_KEYS:
            user = _str(attrs.get(key))
            if user:
                break
        if record is not None:
            conversation = conversation or record.conversation_id
            user = user or record.user_id
            record.conversation_id = record.conversation_id or conversation
            record.user_id = record.user_id or user
        runtime = span.runtime
        rules = runtime.budget_rules(span.settings)
        if not rules and not blocks:
            return  # no budget applies: nothing to charge
        span_id = _span_id(span)
        # The reservation the call made before it was sent (enforce mode) becomes its real
        # cost, in the same step as the charge.
        reservation = runtime.take_reservation(span.trace_id, span_id)
        if unpriced:
            if reservation is not None and reservation.usd > 0:
                # the pre-call estimate stands in for the unknown cost (and usage)
                usd = reservation.usd
                tokens = tokens or reservation.tokens
                result.attributes[semconv.TRIPWIRE_BUDGET_ESTIMATED] = True
            else:
                result.attributes[semconv.TRIPWIRE_BUDGET_UNPRICED] = True
        spends: list[Spend] = []
        # The agent runs this call is part of (scope ``agent``), found as the gate finds them.
        runs = (agent_run_keys(span.state, span.trace_id, span_id)
                if any(rule.scope == "agent" for rule in rules) else [])
        if rules:
            keys = ScopeKeys(format(span.trace_id, "032x"), conversation, user, span.feature,
                             tuple(key for _, key in runs))
            try:
                spends = runtime.ledger.settle(f"{span.trace_id:032x}{span_id:016x}",
                                               scopes(rules, keys), usd, tokens, reservation)
            except LedgerUnavailable:
                result.attributes[semconv.TRIPWIRE_BUDGET_STORE_UNAVAILABLE] = True
        spends += settle_blocks(blocks, usd, tokens, reservation)
        found = crossings(spends, span.settings.budget_warn_ratio)
        if not found:
            return
        metric_attrs = span.shared_metric_attributes()  # spread into a new dict below
        for crossing in found:
            if crossing.exceeded:
                if semconv.TRIPWIRE_BUDGET_EXCEEDED not in result.attributes:
                    result.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] = True
                    result.attributes.update(limit_attributes(crossing))
                if record is not None and record.budget_exceeded is None:
                    record.budget_exceeded = crossing
                if crossing.rule.scope == "agent":  # flagged on the run's span as it ends
                    for tally, key in runs:
                        if key == crossing.scope_key and tally.budget_exceeded is None:
                            tally.budget_exceeded = crossing
            if not crossing.crossed:
                continue
            name = semconv.EVENT_BUDGET_EXCEEDED if crossing.exceeded else semconv.EVENT_BUDGET_WARNING
            result.events.append(event(name, span.end_time, _event_attrs(crossing)))
            if crossing.exceeded:
                span.instruments.budget_violations.add(1, {
                    **metric_attrs,
                    semconv.TRIPWIRE_BUDGET_NAME: crossing.rule.name,
                    semconv.TRIPWIRE_BUDGET_SCOPE: crossing.rule.scope,
                })
            else:
                result.attributes[semconv.TRIPWIRE_BUDGET_WARNING] = True


def _span_id(span: SpanData) -> int:
    ctx = span.span.context
    return ctx.span_id if ctx is not None else 0
