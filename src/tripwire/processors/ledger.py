"""The budget ledger: which accounts a span charges, crossings, and the pre-call check.

Accounts live behind :class:`BudgetLedger`; :class:`InMemoryLedger` (bounded, per process) is
the default. The process runtime owns the ledger and the rules; nothing here is global.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from opentelemetry import baggage, trace
from opentelemetry.context import Context

from tripwire import semconv
from tripwire.budgets import Account, BudgetBlock, BudgetRule, active_blocks, load_budgets_file
from tripwire.errors import ConfigError
from tripwire.processors.state import BoundedTable, ProcessState, TraceRecord
from tripwire.settings import Settings

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


class LedgerAccount(Protocol):
    """The spending of one scope."""

    def add(self, usd: float, tokens: int) -> tuple[tuple[float, int], tuple[float, int]]:
        """Record spending; return (before, after) as (usd, tokens)."""
        ...

    def spent(self) -> tuple[float, int]: ...


class BudgetLedger(Protocol):
    """Where budget accounts live: in this process, or in a store every process shares."""

    def account(self, rule: BudgetRule, scope_key: str, *,
                create: bool) -> LedgerAccount | None: ...

    def resize(self, max_entries: int, ttl_seconds: float) -> None: ...

    def clear(self) -> None: ...


class InMemoryLedger:
    """Accounts of this process, keyed by (budget name, scope key); bounded like every table."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._accounts: BoundedTable[tuple[str, str], Account] = BoundedTable(max_entries,
                                                                              ttl_seconds)

    def __len__(self) -> int:
        return len(self._accounts)

    def account(self, rule: BudgetRule, scope_key: str, *, create: bool) -> Account | None:
        key = (rule.name, scope_key)
        if create:
            return self._accounts.get_or_create(key, partial(Account, rule.window_seconds))
        return self._accounts.get(key)

    def resize(self, max_entries: int, ttl_seconds: float) -> None:
        self._accounts.resize(max_entries, ttl_seconds)

    def clear(self) -> None:
        self._accounts.clear()


Target = tuple[BudgetRule, str, LedgerAccount]


def rules_from(settings: Settings) -> tuple[BudgetRule, ...]:
    """The budget rules the settings name (a bad budgets file is logged and skipped)."""
    found: list[BudgetRule] = []
    if settings.budget_trace_usd is not None or settings.budget_trace_tokens is not None:
        found.append(BudgetRule("trace", "trace", settings.budget_trace_usd,
                                settings.budget_trace_tokens))
    if settings.budgets_file:
        try:
            found.extend(load_budgets_file(settings.budgets_file))
        except ConfigError as exc:
            logger.error("tripwire configuration: %s; file budgets stay off", exc)
    return tuple(found)


def accounts(ledger: BudgetLedger, rules: Iterable[BudgetRule], keys: ScopeKeys,
             create: bool) -> list[Target]:
    found: list[Target] = []
    for rule in rules:
        key = keys.key(rule.scope)
        if key is None:
            continue
        account = ledger.account(rule, key, create=create)
        if account is not None:
            found.append((rule, key, account))
    return found


def charge(targets: Iterable[Target], usd: float, tokens: int,
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


def block_targets(blocks: Iterable[BudgetBlock]) -> list[Target]:
    return [(block.rule, block.name, block.account) for block in blocks]


def exhausted(targets: Iterable[Target]) -> Crossing | None:
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


def exhausted_before_call(state: ProcessState, ledger: BudgetLedger,
                          rules: tuple[BudgetRule, ...], settings: Settings,
                          ctx: Context) -> Crossing | None:
    """The first budget of a call about to start in ``ctx`` that is already spent, if any."""
    blocks = active_blocks()
    crossing = exhausted(block_targets(blocks)) if blocks else None
    if crossing is None and rules:
        span_ctx = trace.get_current_span(ctx).get_span_context()
        record = state.traces.get(span_ctx.trace_id) if span_ctx.is_valid else None
        keys = ScopeKeys(
            trace=format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None,
            conversation=_baggage_str(ctx, semconv.GEN_AI_CONVERSATION_ID)
            or (record.conversation_id if record else None),
            user=_baggage_str(ctx, *USER_KEYS) or (record.user_id if record else None),
            feature=_baggage_str(ctx, semconv.BAGGAGE_FEATURE)
            or (record.feature if record else None) or root_route(record) or settings.feature,
        )
        crossing = exhausted(accounts(ledger, rules, keys, create=False))
    return crossing
