"""The budget ledger: which accounts a span charges, crossings, and the pre-call check."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from opentelemetry import baggage, trace
from opentelemetry.context import Context

from tripwire import semconv
from tripwire._core.precall import PreCallInfo
from tripwire.budgets import Account, BudgetBlock, BudgetRule, active_blocks, load_budgets_file
from tripwire.errors import BudgetExceededError, ConfigError
from tripwire.processors.state import ProcessState, TraceRecord, get_state
from tripwire.settings import BudgetMode, Settings, get_settings, on_settings_change

USER_ID = semconv.USER_ID
ENDUSER_ID = semconv.ENDUSER_ID
USER_KEYS = (USER_ID, ENDUSER_ID)

logger = logging.getLogger("tripwire")


@dataclass(frozen=True)
class ScopeKeys:
    trace: str | None
    conversation: str | None
    user: str | None
    feature: str | None

    def key(self, scope: str) -> str | None:
        if scope == "global":
            return ""
        value: str | None = getattr(self, scope, None)
        return value


@dataclass(frozen=True)
class Crossing:
    rule: BudgetRule
    scope_key: str
    unit: str  # "usd" or "tokens"
    limit: float
    spent: float
    exceeded: bool  # False: the warning threshold
    crossed: bool  # crossed by this span (False: it was already over)


_rules_lock = threading.Lock()
_rules_cache: dict[tuple[str | None, float | None, int | None], tuple[BudgetRule, ...]] = {}


def rules_for(settings: Settings) -> tuple[BudgetRule, ...]:
    key = (settings.budgets_file, settings.budget_trace_usd, settings.budget_trace_tokens)
    rules = _rules_cache.get(key)
    if rules is None:
        found: list[BudgetRule] = []
        if settings.budget_trace_usd is not None or settings.budget_trace_tokens is not None:
            found.append(BudgetRule("trace", "trace", settings.budget_trace_usd,
                                    settings.budget_trace_tokens))
        if settings.budgets_file:
            try:
                found.extend(load_budgets_file(settings.budgets_file))
            except ConfigError as exc:
                logger.error("tripwire configuration: %s; file budgets stay off", exc)
        rules = tuple(found)
        with _rules_lock:
            _rules_cache[key] = rules
    return rules


def _clear_rules() -> None:
    with _rules_lock:
        _rules_cache.clear()


on_settings_change(_clear_rules)


def accounts(state: ProcessState, rules: Iterable[BudgetRule], keys: ScopeKeys,
             create: bool) -> list[tuple[BudgetRule, str, Account]]:
    found = []
    for rule in rules:
        key = keys.key(rule.scope)
        if key is None:
            continue
        table_key = (rule.name, key)
        if create:
            account = state.accounts.get_or_create(table_key, partial(Account, rule.window_seconds))
        else:
            account = state.accounts.get(table_key)
        if account is not None:
            found.append((rule, key, account))
    return found


def charge(targets: Iterable[tuple[BudgetRule, str, Account]], usd: float, tokens: int,
           warn_ratio: float) -> list[Crossing]:
    crossings: list[Crossing] = []
    for rule, key, account in targets:
        before, after = account.add(usd, tokens)
        for unit, limit, was, now in (("usd", rule.usd, before[0], after[0]),
                                      ("tokens", rule.tokens, before[1], after[1])):
            if limit is None:
                continue
            if now >= limit:
                crossings.append(Crossing(rule, key, unit, limit, now, True, was < limit))
            elif now >= limit * warn_ratio > was:
                crossings.append(Crossing(rule, key, unit, limit, now, False, True))
    return crossings


def block_targets(blocks: Iterable[BudgetBlock]) -> list[tuple[BudgetRule, str, Account]]:
    return [(block.rule, block.name, block.account) for block in blocks]


def exhausted(targets: Iterable[tuple[BudgetRule, str, Account]]) -> Crossing | None:
    for rule, key, account in targets:
        usd, tokens = account.spent()
        if rule.usd is not None and usd >= rule.usd:
            return Crossing(rule, key, "usd", rule.usd, usd, True, False)
        if rule.tokens is not None and tokens >= rule.tokens:
            return Crossing(rule, key, "tokens", rule.tokens, tokens, True, False)
    return None


def _baggage_str(ctx: Context | None, *names: str) -> str | None:
    for name in names:
        value = baggage.get_baggage(name, ctx)
        if isinstance(value, str) and value:
            return value
    return None


def root_route(record: TraceRecord | None) -> str | None:
    root = record.root_span if record is not None else None
    if root is None:
        return None
    attrs = getattr(root, "attributes", None) or {}
    route = attrs.get(semconv.HTTP_ROUTE)
    return route if isinstance(route, str) and route else None


def precall_check(info: PreCallInfo) -> None:
    """Registered with the instrumentors: refuse a call whose scope has already spent its limit."""
    settings = get_settings()
    if settings.budget_mode is not BudgetMode.ENFORCE:
        return
    blocks = active_blocks()
    crossing = exhausted(block_targets(blocks)) if blocks else None
    rules = rules_for(settings)
    if crossing is None and rules:
        state = get_state()
        span_ctx = trace.get_current_span(info.context).get_span_context()
        record = state.traces.get(span_ctx.trace_id) if span_ctx.is_valid else None
        keys = ScopeKeys(
            trace=format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None,
            conversation=_baggage_str(info.context, semconv.GEN_AI_CONVERSATION_ID)
            or (record.conversation_id if record else None),
            user=_baggage_str(info.context, *USER_KEYS) or (record.user_id if record else None),
            feature=_baggage_str(info.context, semconv.BAGGAGE_FEATURE)
            or (record.feature if record else None) or root_route(record) or settings.feature,
        )
        crossing = exhausted(accounts(state, rules, keys, create=False))
    if crossing is not None:
        raise BudgetExceededError(crossing.rule.name, limit=crossing.limit, spent=crossing.spent,
                                  unit=crossing.unit, scope=crossing.rule.scope)
