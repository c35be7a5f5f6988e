"""The budget ledger: which accounts a span charges, crossings, and the pre-call check.

Accounts live behind :class:`BudgetLedger`; :class:`InMemoryLedger` (bounded, per process) is
the default. The process runtime owns the ledger and the rules; nothing here is global.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from opentelemetry import baggage, trace
from opentelemetry.context import Context

from tripwire import semconv
from tripwire.budgets import RUN_SCOPES, Account, BudgetBlock, BudgetRule, load_budgets_file
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
    # One key per agent or workflow run the call is part of, innermost first (agent_run_keys)
    agent: tuple[str, ...] = ()

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


Scope = tuple[BudgetRule, str]  # a budget and the key of the scope it applies to
Amount = tuple[float, int]  # (usd, tokens)


@dataclass(frozen=True)
class Spend:
    """What one settlement did to one scope."""

    rule: BudgetRule
    scope_key: str
    before: Amount
    after: Amount


@dataclass(frozen=True)
class Reservation:
    """What a call in flight holds until it ends (``enforce`` mode): its estimated cost on
    every scope that applied when it started, ledger scopes and ``tripwire.budget()`` blocks."""

    id: str
    scopes: tuple[Scope, ...]
    blocks: tuple[BudgetBlock, ...]
    usd: float
    tokens: int
    store_unavailable: bool = False  # the store could not be reached: nothing reserved there


class LedgerUnavailable(Exception):
    """The budget store cannot be reached (or answered too slowly)."""


class BudgetLedger(Protocol):
    """Where budget accounts live: in this process, or in a store every process shares.

    Every method is atomic per call: a reservation is checked and taken on all its scopes as
    one step, and a settlement replaces a reservation by the real spending as one step.
    Implementations raise :class:`LedgerUnavailable` when their store cannot be reached.
    """

    def reserve(self, reservation_id: str, scopes: Sequence[Scope], usd: float,
                tokens: int) -> Crossing | None:
        """Refuse (the first scope whose spent + reserved amount has reached its limit) or
        reserve ``usd``/``tokens`` on every scope."""
        ...

    def settle(self, charge_id: str, scopes: Sequence[Scope], usd: float, tokens: int,
               reservation: Reservation | None = None) -> list[Spend]:
        """Record a call's real spending on ``scopes`` and drop its reservation. Idempotent:
        a second settlement with the same ``charge_id`` changes nothing and returns []."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation that was not settled (the call failed or was never charged)."""
        ...

    def spent(self, scope: Scope) -> Amount:
        """The settled spending of a scope (0, 0 when nothing was recorded)."""
        ...

    def resize(self, max_entries: int, ttl_seconds: float) -> None: ...

    def clear(self) -> None: ...


def refusal(rule: BudgetRule, key: str, committed: Amount) -> Crossing | None:
    """The crossing that refuses a new call when ``committed`` (spent + reserved) has
    reached one of the rule's limits."""
    if rule.usd is not None and committed[0] >= rule.usd:
        return Crossing(rule, key, "usd", rule.usd, committed[0], True, False)
    if rule.tokens is not None and committed[1] >= rule.tokens:
        return Crossing(rule, key, "tokens", rule.tokens, committed[1], True, False)
    return None


def _over(rule: BudgetRule, amount: Amount) -> bool:
    return ((rule.usd is not None and amount[0] >= rule.usd)
            or (rule.tokens is not None and amount[1] >= rule.tokens))


# Charge ids remembered for idempotent settlement (a retried settle never charges twice):
# more than the spans a process ends while one settlement could be retried.
_SETTLED_IDS = 4096


class InMemoryLedger:
    """Accounts of this process, keyed by (budget name, scope key).

    Budget state is not a cache: an account that is over its limit (any scope but ``trace``,
    which ends with its request), holds a reservation or has spending inside a live rolling
    window is *pinned* and never evicted to make room. The others are bounded like every
    table (``state_max_entries`` least recently used, ``state_ttl_seconds`` idle); forgetting
    one of those restarts an under-limit cumulative scope from zero. Pinned accounts are
    re-examined one per operation, oldest first, and unpinned once their window has drained.
    """

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._accounts: BoundedTable[tuple[str, str], Account] = BoundedTable(max_entries,
                                                                              ttl_seconds)
        self._pinned: OrderedDict[tuple[str, str], tuple[BudgetRule, Account]] = OrderedDict()
        self._settled: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._accounts) + len(self._pinned)

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    def _account(self, rule: BudgetRule, key: str, create: bool = False) -> Account | None:
        table_key = (rule.name, key)
        held = self._pinned.get(table_key)
        if held is not None:
            return held[1]
        if create:
            return self._accounts.get_or_create(table_key, partial(Account, rule.window_seconds))
        return self._accounts.get(table_key)

    def _place(self, rule: BudgetRule, key: str, account: Account) -> None:
        """Pin or unpin ``account`` after a change; re-examine the oldest pinned one."""
        table_key = (rule.name, key)
        pin = account.live or (rule.scope not in RUN_SCOPES and _over(rule, account.spent()))
        if pin:
            if table_key not in self._pinned:
                self._accounts.pop(table_key)
            self._pinned[table_key] = (rule, account)
            self._pinned.move_to_end(table_key)
        elif table_key in self._pinned:
            del self._pinned[table_key]
            self._accounts.set(table_key, account)
        if self._pinned:
            oldest_key, (oldest_rule, oldest) = next(iter(self._pinned.items()))
            if oldest_key != table_key and not oldest.live and (
                    oldest_rule.scope in RUN_SCOPES or not _over(oldest_rule, oldest.spent())):
                del self._pinned[oldest_key]  # its window drained: an ordinary entry again
                self._accounts.set(oldest_key, oldest)
            else:
                self._pinned.move_to_end(oldest_key)

    def reserve(self, reservation_id: str, scopes: Sequence[Scope], usd: float,
                tokens: int) -> Crossing | None:
        with self._lock:
            accounts = [(rule, key, self._account(rule, key, True)) for rule, key in scopes]
            for rule, key, account in accounts:
                assert account is not None
                crossing = refusal(rule, key, account.committed())
                if crossing is not None:
                    return crossing
            for rule, key, account in accounts:
                assert account is not None
                account.reserve(reservation_id, usd, tokens)
                self._place(rule, key, account)
        return None

    def settle(self, charge_id: str, scopes: Sequence[Scope], usd: float, tokens: int,
               reservation: Reservation | None = None) -> list[Spend]:
        spends: list[Spend] = []
        with self._lock:
            if charge_id in self._settled:
                return spends
            self._settled[charge_id] = None
            if len(self._settled) > _SETTLED_IDS:
                self._settled.popitem(last=False)
            rid = reservation.id if reservation is not None else None
            for rule, key in scopes:
                account = self._account(rule, key, True)
                assert account is not None
                before, after = account.settle(rid, usd, tokens)
                spends.append(Spend(rule, key, before, after))
                self._place(rule, key, account)
            if reservation is not None:
                self._release(reservation)
        return spends

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            self._release(reservation)

    def _release(self, reservation: Reservation) -> None:
        for rule, key in reservation.scopes:
            account = self._account(rule, key)
            if account is not None and account.release(reservation.id):
                self._place(rule, key, account)

    def spent(self, scope: Scope) -> Amount:
        account = self._account(scope[0], scope[1])
        return account.spent() if account is not None else (0.0, 0)

    def resize(self, max_entries: int, ttl_seconds: float) -> None:
        self._accounts.resize(max_entries, ttl_seconds)

    def clear(self) -> None:
        with self._lock:
            self._accounts.clear()
            self._pinned.clear()
            self._settled.clear()


def rules_from(settings: Settings) -> tuple[BudgetRule, ...]:
    """The budget rules the settings name (a bad budgets file is logged and skipped)."""
    found: list[BudgetRule] = []
    if settings.budget_trace_usd is not None or settings.budget_trace_tokens is not None:
        found.append(BudgetRule("trace", "trace", settings.budget_trace_usd,
                                settings.budget_trace_tokens))
    if settings.budget_agent_run_usd is not None:
        found.append(BudgetRule("agent_run", "agent", settings.budget_agent_run_usd))
    if settings.budgets_file:
        try:
            found.extend(load_budgets_file(settings.budgets_file))
        except ConfigError as exc:
            logger.error("tripwire configuration: %s; file budgets stay off", exc)
    return tuple(found)


def scopes(rules: Iterable[BudgetRule], keys: ScopeKeys) -> list[Scope]:
    """The (rule, scope key) pairs that apply, given the keys known for a call."""
    found: list[Scope] = []
    for rule in rules:
        if rule.scope == "agent":
            found.extend((rule, key) for key in keys.agent)
            continue
        key = keys.key(rule.scope)
        if key is not None:
            found.append((rule, key))
    return found


# --- tripwire.budget() blocks: in-process accounts with the same semantics ----------------
_blocks_lock = threading.Lock()


def reserve_blocks(reservation_id: str, blocks: Sequence[BudgetBlock], usd: float,
                   tokens: int) -> Crossing | None:
    with _blocks_lock:
        for block in blocks:
            crossing = refusal(block.rule, block.name, block.account.committed())
            if crossing is not None:
                return crossing
        for block in blocks:
            block.account.reserve(reservation_id, usd, tokens)
    return None


def release_blocks(reservation_id: str, blocks: Iterable[BudgetBlock]) -> None:
    for block in blocks:
        block.account.release(reservation_id)


def settle_blocks(blocks: Iterable[BudgetBlock], usd: float, tokens: int,
                  reservation: Reservation | None) -> list[Spend]:
    rid = reservation.id if reservation is not None else None
    spends = []
    with _blocks_lock:
        for block in blocks:
            before, after = block.account.settle(rid, usd, tokens)
            spends.append(Spend(block.rule, block.name, before, after))
    if reservation is not None:  # blocks the reservation held that this span no longer has
        release_blocks(reservation.id, reservation.blocks)
    return spends


def crossings(spends: Iterable[Spend], warn_ratio: float) -> list[Crossing]:
    """Limits reached (or warning thresholds passed) by these settlements."""
    found: list[Crossing] = []
    for spend in spends:
        rule, key, before, after = spend.rule, spend.scope_key, spend.before, spend.after
        for unit, limit, was, now in (("usd", rule.usd, before[0], after[0]),
                                      ("tokens", rule.tokens, before[1], after[1])):
            if limit is None:
                continue
            if now >= limit:
                found.append(Crossing(rule, key, unit, limit, now, True, was < limit))
            elif now >= limit * warn_ratio > was:
                found.append(Crossing(rule, key, unit, limit, now, False, True))
    return found


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
    route = (root.attributes or {}).get(semconv.HTTP_ROUTE)  # the live SDK span
    return route if isinstance(route, str) and route else None


# How many agent runs around a call are charged at most (runs nest a few levels deep; the
# bound only guards against a malformed chain).
_MAX_AGENT_DEPTH = 16


def agent_run_keys(state: ProcessState, trace_id: int, span_id: int) -> list[tuple[Any, str]]:
    """The agent and workflow runs a span is part of, innermost first, as (tally, account
    key): the span itself when it is one, else the open run around it (``agent_links``,
    noted as spans start), then the runs around that one. Each run has its own account, keyed
    by the run's span and named by its ``gen_ai.agent.name`` (or workflow name)."""
    runs = state.agent_runs
    if not len(runs):
        return []  # the fast path: no agent run open in this process
    key: tuple[int, int] | None = (trace_id, span_id)
    if runs.get(key) is None:  # type: ignore[arg-type]
        key = state.agent_links.get(key)  # type: ignore[arg-type]
    found: list[tuple[Any, str]] = []
    while key is not None and len(found) < _MAX_AGENT_DEPTH:
        tally = runs.get(key)
        if tally is None:
            break
        found.append((tally, f"{tally.name or ''}/{key[0]:032x}/{key[1]:016x}"))
        key = tally.enclosing
    return found


def scopes_before_call(state: ProcessState, rules: tuple[BudgetRule, ...], settings: Settings,
                       ctx: Context) -> list[Scope]:
    """The ledger scopes a call about to start in ``ctx`` spends from."""
    span_ctx = trace.get_current_span(ctx).get_span_context()
    record = state.traces.get(span_ctx.trace_id)  # never one for the invalid trace id 0
    keys = ScopeKeys(
        trace=format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None,
        conversation=_baggage_str(ctx, semconv.GEN_AI_CONVERSATION_ID)
        or (record.conversation_id if record else None),
        user=_baggage_str(ctx, *USER_KEYS) or (record.user_id if record else None),
        feature=_baggage_str(ctx, semconv.BAGGAGE_FEATURE)
        or (record.feature if record else None) or root_route(record) or settings.feature,
        agent=tuple(key for _, key in agent_run_keys(state, span_ctx.trace_id,
                                                      span_ctx.span_id))
        if span_ctx.is_valid and any(rule.scope == "agent" for rule in rules) else (),
    )
    return scopes(rules, keys)
