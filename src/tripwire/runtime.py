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
  enrichment processors that charge budgets and detached when they shut down.

Instrumentors and processors look the runtime up here and nowhere else. A settings change keeps
every state table and the ledger (only new bounds resize them); :meth:`Runtime.reset` forgets
everything and is meant for tests (``tripwire.testing.reset()``).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import Any

from tripwire._core.guard import log_failure, reset_failure_log
from tripwire._core.precall import PreCallInfo
from tripwire.budgets import BudgetRule
from tripwire.errors import BudgetExceededError, ConfigError
from tripwire.processors.ledger import (
    BudgetLedger,
    InMemoryLedger,
    exhausted_before_call,
    rules_from,
)
from tripwire.processors.metrics import InstrumentRegistry
from tripwire.processors.prices import PriceBook, load_overlay
from tripwire.processors.state import ProcessState
from tripwire.settings import BudgetMode, Settings, load_settings, log_errors

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
        self._bounds: tuple[int, float] | None = None
        self._price_books: dict[str | None, PriceBook] = {}
        self._rules: tuple[tuple[Any, ...], tuple[BudgetRule, ...]] | None = None
        self.instruments = InstrumentRegistry()
        # Processors alive in this process, and those of them that charge budgets: the
        # budget gate is attached while at least one of those is.
        self._processors: weakref.WeakSet[Any] = weakref.WeakSet()
        self._gate_owners: weakref.WeakSet[Any] = weakref.WeakSet()
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
        with self._lock:
            settings = self.settings
            size, ttl = settings.state_max_entries, settings.state_ttl_seconds
            if self._state is None:
                self._state = ProcessState.bounded(size, ttl)
            if self._ledger is None:
                self._ledger = InMemoryLedger(size, ttl)
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

    # --- prices and budgets --------------------------------------------------------------
    def price_book(self, prices_file: str | None) -> PriceBook:
        """The price book for an overlay file (``None``: genai-prices only)."""
        book = self._price_books.get(prices_file)
        if book is None:
            with self._lock:
                book = self._price_books.get(prices_file)
                if book is None:
                    book = PriceBook(load_overlay(prices_file) if prices_file else ())
                    if len(self._price_books) >= _MAX_PRICE_BOOKS:
                        self._price_books.clear()
                    self._price_books[prices_file] = book
        return book

    def budget_rules(self, settings: Settings) -> tuple[BudgetRule, ...]:
        """The budget rules ``settings`` name (trace limits and the budgets file), cached."""
        key = (settings.budgets_file, settings.budget_trace_usd, settings.budget_trace_tokens)
        cached = self._rules
        if cached is not None and cached[0] == key:
            return cached[1]
        rules = rules_from(settings)
        self._rules = (key, rules)
        return rules

    # --- processors and the budget gate --------------------------------------------------
    def attach(self, processor: Any, *, budget_gate: bool) -> None:
        """A processor starts: count it, and with ``budget_gate`` enforce budgets before
        calls while it lives."""
        with self._lock:
            self._processors.add(processor)
            if budget_gate:
                self._gate_owners.add(processor)

    def detach(self, processor: Any) -> None:
        """A processor shut down: it no longer counts, and no longer holds the gate."""
        with self._lock:
            self._processors.discard(processor)
            self._gate_owners.discard(processor)

    @property
    def processor_count(self) -> int:
        return len(self._processors)

    @property
    def budget_gate_attached(self) -> bool:
        return len(self._gate_owners) > 0

    def before_call(self, info: PreCallInfo) -> None:
        """The budget gate: raise :class:`~tripwire.BudgetExceededError` when the call about
        to start would spend from an exhausted budget (``enforce`` mode only). Any other
        failure here is a tripwire bug: logged, and the call goes ahead."""
        if not self._gate_owners:
            return
        try:
            settings = self.settings
            if settings.budget_mode is not BudgetMode.ENFORCE:
                return
            crossing = exhausted_before_call(self.state, self.ledger,
                                             self.budget_rules(settings), settings,
                                             info.context)
        except Exception:
            log_failure("budget gate")
            return
        if crossing is not None:
            raise BudgetExceededError(crossing.rule.name, limit=crossing.limit,
                                      spent=crossing.spent, unit=crossing.unit,
                                      scope=crossing.rule.scope)

    # --- tests ---------------------------------------------------------------------------
    def clear_state(self) -> None:
        """Forget the cross-span state and the ledger's accounts; settings stay."""
        with self._lock:
            if self._state is not None:
                self._state.clear()
            if self._ledger is not None:
                self._ledger.clear()

    def reset(self) -> None:
        """Forget everything: settings (re-read from the environment on next use), state,
        ledger, price books, rules, instruments, attached processors, configured providers
        and logged failures."""
        with self._lock:
            self._settings = None
            self._state = None
            self._ledger = None
            self._bounds = None
            self._price_books.clear()
            self._rules = None
            self.instruments.clear()
            self._processors = weakref.WeakSet()
            self._gate_owners = weakref.WeakSet()
            self.configured_provider = None
            self.decorator_providers = (None, None)
            self.decorator_telemetry = None
        reset_failure_log()


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
