"""The process runtime: the one owner of tripwire's settings and cross-span state.

One :class:`Runtime` per process (:func:`get_runtime`) holds

- the settings (read from the environment on first use, replaced by ``tripwire.configure()``
  and the ``opentelemetry-instrument`` configurator),
- the cross-span state tables (traces, drift history, spans' budget blocks),
- the budget ledger (behind :class:`~tripwire.processors.ledger.BudgetLedger`) and the budget
  rules the settings name,
- the price books (one per overlay file) and the metric instruments (one set per meter
  provider),
- the budget gate: the check instrumentors run before a call is sent, attached by the
  enrichment processors that charge budgets and detached when they shut down (with no
  processor at all, the runtime's own accountant charges tripwire's calls and holds it),
- the accountant: the enrichment steps, without an exporter, for the spans of tripwire's
  calls that no processor sees (not sampled, or no processor attached).

Instrumentors and processors look the runtime up here and nowhere else. A settings change keeps
every state table and the ledger (only new bounds resize them); :meth:`Runtime.reset` forgets
everything and is meant for tests (``tripwire.testing.reset()``).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import NoOpMeterProvider

from tripwire._compat import global_meter_provider
from tripwire._core.guard import log_failure, reset_failure_log
from tripwire._core.precall import PreCallInfo
from tripwire.errors import BudgetExceededError, BudgetStoreUnavailableError, ConfigError
from tripwire.processors.metrics import InstrumentRegistry
from tripwire.settings import BudgetMode, Settings, StoreFailure, load_settings, log_errors

# What only the enrichment processor and enforce-mode budgets use (state tables, ledger and
# store, prices, budget rules, token estimates) is imported on first use: the methods that
# use these names call ``_bind_lazy()`` first, and ``runtime.<name>`` imports on access
# (PEP 562), so ``import tripwire.instrumentation.openai`` does not pay for them (≈ 10 ms).
# The processor imports these modules itself: with enrichment on they are loaded anyway.
if TYPE_CHECKING:
    from tripwire._core.tokens import count_tokens
    from tripwire.budgets import BudgetRule, active_blocks
    from tripwire.processors.ledger import (
        BudgetLedger,
        Crossing,
        InMemoryLedger,
        LedgerUnavailable,
        Reservation,
        release_blocks,
        reserve_blocks,
        rules_from,
        scopes_before_call,
    )
    from tripwire.processors.prices import PriceBook, Usage, load_overlay
    from tripwire.processors.state import BoundedTable, ProcessState
    from tripwire.processors.store import RedisLedger

_LAZY: dict[str, str] = {
    "count_tokens": "tripwire._core.tokens",
    "BudgetRule": "tripwire.budgets",
    "active_blocks": "tripwire.budgets",
    **dict.fromkeys(("BudgetLedger", "Crossing", "InMemoryLedger", "LedgerUnavailable",
                     "Reservation", "release_blocks", "reserve_blocks", "rules_from",
                     "scopes_before_call"), "tripwire.processors.ledger"),
    **dict.fromkeys(("PriceBook", "Usage", "load_overlay"), "tripwire.processors.prices"),
    **dict.fromkeys(("BoundedTable", "ProcessState"), "tripwire.processors.state"),
    "RedisLedger": "tripwire.processors.store",
}
_bound = False


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # setdefault: a name already bound (or replaced, e.g. by a test) stays as it is
    return globals().setdefault(name, getattr(importlib.import_module(module), name))


def _bind_lazy() -> None:
    """Bind every name of ``_LAZY`` as a module global (once)."""
    global _bound
    for name in _LAZY:
        __getattr__(name)
    _bound = True

logger = logging.getLogger("tripwire")

# Price books kept for overlay files no longer in the settings (a settings change back to an
# earlier file finds it again); a handful is plenty.
_MAX_PRICE_BOOKS = 8


class Runtime:
    """Everything tripwire keeps in a process. Thread-safe; see the module docstring."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._lock = threading.RLock()
        self._settings = settings
        self._state: ProcessState | None = None
        self._ledger: BudgetLedger | None = None
        self._ledger_key: tuple[Any, ...] | None = None
        # (trace_id, span_id) of a call in flight -> what it reserved (enforce mode)
        self._held: BoundedTable[tuple[int, int], Reservation] | None = None
        self._bounds: tuple[int, float] | None = None
        self._price_books: dict[str | None, PriceBook] = {}
        self._rules: tuple[tuple[Any, ...], tuple[BudgetRule, ...]] | None = None
        self.instruments = InstrumentRegistry()
        # Processors alive in this process, and those of them that charge budgets: the
        # budget gate is attached while at least one of those is.
        self._processors: weakref.WeakSet[Any] = weakref.WeakSet()
        self._gate_owners: weakref.WeakSet[Any] = weakref.WeakSet()
        # How many are alive, as a plain attribute: read as every span starts and ends (a
        # WeakSet's len() is a Python call); kept by attach/detach and when one is collected.
        self.processors_alive = 0
        # The enrichment steps without an exporter, for spans no processor will see.
        self._accountant: Any = None
        # Set up by tripwire.configure() (the pipeline is built once per process) and by
        # tripwire.decorators.configure() (the providers of decorator spans).
        self.configured_provider: Any = None
        self.decorator_providers: tuple[Any, Any] = (None, None)
        self.decorator_telemetry: Any = None

    # --- settings ------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        settings = self._settings
        if settings is None:
            with self._lock:
                if self._settings is None:
                    errors: list[ConfigError] = []
                    self._settings = load_settings(strict=False, errors=errors)
                    log_errors(errors)
                settings = self._settings
        return settings

    def use_settings(self, settings: Settings | None) -> None:
        """Install ``settings`` (``None``: re-read the environment on next use). State and
        ledger are kept; new bounds resize them; file-derived caches (price book overlay,
        budget rules) are re-read, since the files may have changed."""
        with self._lock:
            self._settings = settings
            self._price_books.clear()
            self._rules = None
            if self._bounds is not None:
                self._apply_bounds(self.settings)
            if self._ledger is not None and self._ledger_key != _ledger_key(self.settings):
                self._ledger = None  # another store: built on next use

    # --- state ---------------------------------------------------------------------------
    @property
    def state(self) -> ProcessState:
        state = self._state
        if state is None:
            state = self._build()[0]
        return state

    @property
    def ledger(self) -> BudgetLedger:
        ledger = self._ledger
        if ledger is None:
            ledger = self._build()[1]
        return ledger

    def _build(self) -> tuple[ProcessState, BudgetLedger]:
        if not _bound:
            _bind_lazy()
        with self._lock:
            settings = self.settings
            size, ttl = settings.state_max_entries, settings.state_ttl_seconds
            if self._state is None:
                self._state = ProcessState.bounded(size, ttl)
            if self._ledger is None:
                self._ledger = _build_ledger(settings)
                self._ledger_key = _ledger_key(settings)
            if self._held is None:
                self._held = BoundedTable(size, settings.budget_reservation_ttl_seconds)
            self._bounds = (size, ttl)
            return self._state, self._ledger

    def _apply_bounds(self, settings: Settings) -> None:
        bounds = (settings.state_max_entries, settings.state_ttl_seconds)
        if bounds != self._bounds:
            if self._state is not None:
                self._state.resize(*bounds)
            if self._ledger is not None:
                self._ledger.resize(*bounds)
            self._bounds = bounds

    def use_ledger(self, ledger: BudgetLedger) -> None:
        """Keep budget accounts in ``ledger`` from now on (e.g. a store shared by processes)."""
        with self._lock:
            self._ledger = ledger
            self._ledger_key = _ledger_key(self.settings)

    # --- prices and budgets --------------------------------------------------------------
    def price_book(self, prices_file: str | None) -> PriceBook:
        """The price book for an overlay file (``None``: genai-prices only)."""
        book = self._price_books.get(prices_file)
        if book is None:
            with self._lock:
                book = self._price_books.get(prices_file)
                if book is None:
                    if not _bound:
                        _bind_lazy()
                    book = PriceBook(load_overlay(prices_file) if prices_file else ())
                    if len(self._price_books) >= _MAX_PRICE_BOOKS:
                        self._price_books.clear()
                    self._price_books[prices_file] = book
        return book

    def budget_rules(self, settings: Settings) -> tuple[BudgetRule, ...]:
        """The budget rules ``settings`` name (trace and agent-run limits, the budgets file),
        cached."""
        key = (settings.budgets_file, settings.budget_trace_usd, settings.budget_trace_tokens,
               settings.budget_agent_run_usd)
        cached = self._rules
        if cached is not None and cached[0] == key:
            return cached[1]
        if not _bound:
            _bind_lazy()
        rules = rules_from(settings)
        self._rules = (key, rules)
        return rules

    # --- processors and the budget gate --------------------------------------------------
    def attach(self, processor: Any, *, budget_gate: bool) -> None:
        """A processor starts: count it, and with ``budget_gate`` enforce budgets before
        calls while it lives."""
        with self._lock:
            if processor not in self._processors:
                # collected without shutdown(): the WeakSet forgets it, the flag follows
                weakref.finalize(processor, self._recount).atexit = False
            self._processors.add(processor)
            self.processors_alive = len(self._processors)
            if budget_gate:
                self._gate_owners.add(processor)

    def detach(self, processor: Any) -> None:
        """A processor shut down: it no longer counts, and no longer holds the gate."""
        with self._lock:
            self._processors.discard(processor)
            self._gate_owners.discard(processor)
            self.processors_alive = len(self._processors)

    def _recount(self) -> None:
        # A weakref callback: the collected processor's references are already cleared, so
        # iterating the set sees only live ones. No lock (a callback may run mid-attach).
        self.processors_alive = sum(1 for _ in self._processors)

    @property
    def processor_count(self) -> int:
        return len(self._processors)

    @property
    def budget_gate_attached(self) -> bool:
        """Whether budgets are charged, so the gate has something to enforce: a processor
        with the budget enricher is attached, or none is and the runtime's accountant charges
        tripwire's own calls (:meth:`accountant`)."""
        return len(self._gate_owners) > 0 or len(self._processors) == 0

    @property
    def enforcing(self) -> bool:
        """Whether calls must pass the gate: budgets are charged and the mode is enforce.
        In flag mode (the default) the wrapper skips the gate entirely: no request info is
        built, no estimate made, nothing reserved."""
        # The mode first: in flag mode (the default) one attribute read decides.
        return self.settings.budget_mode is BudgetMode.ENFORCE and self.budget_gate_attached

    def accounting_observed(self) -> bool:
        """With no processor attached: whether accounting one of tripwire's calls would be
        seen anywhere — an active ``tripwire.budget()`` block, a budget rule, or a global
        meter provider that records (tripwire's metrics go there). When nothing would read
        the result, the call is not accounted: instrumentors used on their own pay nothing
        for it."""
        if not _bound:
            _bind_lazy()
        if active_blocks():
            return True
        try:
            if self.budget_rules(self.settings):
                return True
        except Exception:
            return True  # a broken rule set is reported where it is used
        provider = global_meter_provider()  # get_meter_provider() reads os.environ each time
        return provider is not None and not isinstance(provider, NoOpMeterProvider)

    def accountant(self) -> Any:
        """What accounts for a span of tripwire's that no enrichment processor will see (its
        sampler dropped it, or no processor is attached): an attached processor, whose
        instruments and enrichers then count it, else the runtime's own (the default
        enrichers, tripwire metrics on the global meter provider, never exporting).
        Either offers ``observe_start(span, parent_context)`` and ``account(span)``."""
        for processor in list(self._processors):
            return processor
        accountant = self._accountant
        if accountant is None:
            from tripwire.processors.processor import EnrichingSpanProcessor, discard

            with self._lock:
                accountant = self._accountant
                if accountant is None:
                    accountant = self._accountant = EnrichingSpanProcessor(
                        discard, runtime=self, attach=False)
        return accountant

    def before_call(self, info: PreCallInfo) -> Reservation | None:
        """The budget gate, before a call is sent (``enforce`` mode only): reserve the call's
        estimated cost on every budget that applies, atomically with the check, or raise
        :class:`~tripwire.BudgetExceededError` when one of them is spent (spent + reserved at
        its limit). The reservation is settled to the real cost when the call's span ends
        (:meth:`take_reservation`) and released if it never is (:meth:`end_of_call`).

        With the budget store unreachable: ``closed`` raises
        :class:`~tripwire.BudgetStoreUnavailableError`; ``open`` lets the call go ahead with
        only its ``tripwire.budget()`` blocks reserved (``Reservation.store_unavailable``). Any
        other failure here is a tripwire bug: logged, and the call goes ahead."""
        if not self.budget_gate_attached:
            return None
        if not _bound:
            _bind_lazy()
        crossing: Crossing | None = None
        try:
            settings = self.settings
            if settings.budget_mode is not BudgetMode.ENFORCE:
                return None
            rules = self.budget_rules(settings)
            blocks = active_blocks()
            scopes = (tuple(scopes_before_call(self.state, rules, settings, info.context))
                      if rules else ())
            if not scopes and not blocks:
                return None
            usd, tokens = self._estimate(info, settings)
            reservation = Reservation(uuid.uuid4().hex, scopes, blocks, usd, tokens)
            crossing = reserve_blocks(reservation.id, blocks, usd, tokens) if blocks else None
            if crossing is None and scopes:
                try:
                    crossing = self.ledger.reserve(reservation.id, scopes, usd, tokens)
                except LedgerUnavailable:
                    if settings.budget_store_failure is StoreFailure.CLOSED:
                        release_blocks(reservation.id, blocks)
                        raise
                    reservation = dataclasses.replace(reservation, scopes=(),
                                                      store_unavailable=True)
                if crossing is not None:
                    release_blocks(reservation.id, blocks)
        except LedgerUnavailable:
            raise BudgetStoreUnavailableError() from None
        except Exception:
            log_failure("budget gate")
            return None
        if crossing is not None:
            raise BudgetExceededError(crossing.rule.name, limit=crossing.limit,
                                      spent=crossing.spent, unit=crossing.unit,
                                      scope=crossing.rule.scope)
        return reservation

    def _estimate(self, info: PreCallInfo, settings: Settings) -> tuple[float, int]:
        """A call's cost before it is sent: its prompt's tokens (estimated locally) and its
        output limit (or ``budget_output_estimate``), priced as the span will be."""
        if not _bound:
            _bind_lazy()
        text = info.prompt_text() if info.prompt_text is not None else ""
        input_tokens = count_tokens(text, info.request_model)[0] if text else 0
        output_tokens = info.max_output_tokens or settings.budget_output_estimate
        usd = 0.0
        if info.request_model:
            price = self.price_book(settings.prices_file).for_span(
                info.provider, None, info.request_model)[0]
            if price is not None and price.priced:
                usd = float(price.cost(Usage(input_tokens, output_tokens), None))
        return usd, input_tokens + output_tokens

    def hold(self, reservation: Reservation, trace_id: int, span_id: int) -> None:
        """Keep a call's reservation until its span ends."""
        held = self._held if self._held is not None else self._build_held()
        held.set((trace_id, span_id), reservation)

    def _build_held(self) -> BoundedTable[tuple[int, int], Reservation]:
        self._build()
        assert self._held is not None
        return self._held

    def holds(self, trace_id: int, span_id: int) -> bool:
        """Whether the call whose span this is holds a reservation (nothing is taken)."""
        held = self._held
        return held is not None and len(held) > 0 and held.get((trace_id, span_id)) is not None

    def take_reservation(self, trace_id: int, span_id: int) -> Reservation | None:
        """The reservation of the call whose span this is, for its settlement (once)."""
        held = self._held
        return held.pop((trace_id, span_id)) if held is not None and len(held) else None

    def end_of_call(self, trace_id: int, span_id: int) -> None:
        """A call's span has ended: release its reservation if nothing settled it (no
        enrichment saw the span, or it carried no usage)."""
        reservation = self.take_reservation(trace_id, span_id)
        if reservation is not None:
            self.release(reservation)

    def release(self, reservation: Reservation) -> None:
        """Give back what a call reserved (it was never settled)."""
        if not _bound:
            _bind_lazy()
        try:
            release_blocks(reservation.id, reservation.blocks)
            if reservation.scopes:
                self.ledger.release(reservation)
        except LedgerUnavailable:
            pass  # the store lets the reservation expire
        except Exception:
            log_failure("budget release")

    # --- tests ---------------------------------------------------------------------------
    def clear_state(self) -> None:
        """Forget the cross-span state and the ledger's accounts; settings stay."""
        with self._lock:
            if self._state is not None:
                self._state.clear()
            if self._ledger is not None:
                self._ledger.clear()
            if self._held is not None:
                self._held.clear()

    def reset(self) -> None:
        """Forget everything: settings (re-read from the environment on next use), state,
        ledger, price books, rules, instruments, attached processors, configured providers
        and logged failures."""
        with self._lock:
            self._settings = None
            self._state = None
            self._ledger = None
            self._ledger_key = None
            self._held = None
            self._bounds = None
            self._price_books.clear()
            self._rules = None
            self.instruments.clear()
            self._processors = weakref.WeakSet()
            self._gate_owners = weakref.WeakSet()
            self.processors_alive = 0
            self._accountant = None
            self.configured_provider = None
            self.decorator_providers = (None, None)
            self.decorator_telemetry = None
        reset_failure_log()


def _ledger_key(settings: Settings) -> tuple[Any, ...]:
    return (settings.budget_store, settings.budget_store_namespace,
            settings.budget_store_timeout_ms, settings.budget_reservation_ttl_seconds)


def _build_ledger(settings: Settings) -> BudgetLedger:
    """The in-process ledger, or the shared store the settings name."""
    if not _bound:
        _bind_lazy()
    if settings.budget_store:
        return RedisLedger(settings.budget_store, namespace=settings.budget_store_namespace,
                           timeout_ms=settings.budget_store_timeout_ms,
                           reservation_ttl_seconds=settings.budget_reservation_ttl_seconds)
    return InMemoryLedger(settings.state_max_entries, settings.state_ttl_seconds)


_RUNTIME = Runtime()


def get_runtime() -> Runtime:
    """The runtime of this process."""
    return _RUNTIME


def get_settings() -> Settings:
    """The settings in force (read from the environment on first use)."""
    return _RUNTIME.settings


def set_settings(settings: Settings | None) -> None:
    """Install already-validated settings (``None``: re-read the environment on next use).
    State is kept; see :meth:`Runtime.use_settings`."""
    _RUNTIME.use_settings(settings)


def update_settings(**overrides: Any) -> Settings:
    """Validate ``overrides`` on top of the environment and install the result."""
    settings = load_settings(overrides=overrides)
    set_settings(settings)
    return settings


def replace_settings(**changes: Any) -> Settings:
    """Copy the settings in force with already-parsed ``changes`` (tests and tooling)."""
    settings = dataclasses.replace(get_settings(), **changes)
    set_settings(settings)
    return settings


def reset() -> None:
    """Forget everything tripwire holds in this process (tests; see :meth:`Runtime.reset`)."""
    _RUNTIME.reset()


__all__ = ["Runtime", "get_runtime", "get_settings", "replace_settings", "reset", "set_settings",
           "update_settings"]
