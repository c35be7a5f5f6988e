"""The processors' own metric instruments: one set per meter provider.

The counters (``tripwire.cost``, ``tripwire.refusals``, ``tripwire.budget.violations``,
``tripwire.model.changes``, ``tripwire.tool_call.errors``) are summed in process, per
attribute set, and reported through ``ObservableCounter`` callbacks as cumulative sums: a span
costs a dict update instead of an SDK measurement (≈ 8 µs plus ≈ 0.8 µs per attribute: the
exemplar filter, attribute cleaning and hashing, a lock). Names, units, descriptions and
attribute sets are those of the synchronous counters they replace, so the exported series
(``tripwire_cost_USD_total`` …) are the same; they carry no exemplars. The context-window
histogram stays a synchronous SDK instrument.

Each counter's table is bounded: :data:`MAX_SERIES` attribute sets per counter and meter
provider (the SDK's default cardinality limit per metric stream, which the synchronous
counters were subject to). Past it, amounts for new attribute sets are added to the
``otel.metric.overflow=true`` series, as the SDK does, and a warning is logged once per
counter. Several processors on one meter provider share its set (an observable instrument is
registered once per provider), and every provider reports only what was recorded through it.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import (
    CallbackOptions,
    Histogram,
    Meter,
    MeterProvider,
    NoOpMeterProvider,
    Observation,
    get_meter,
    get_meter_provider,
)

from tripwire import semconv
from tripwire._compat import is_proxy_meter_provider
from tripwire.version import __version__

SCOPE = "tripwire.processors"
TRIPWIRE_TOOL_CALL_ERROR_KIND = semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND

# Attribute sets kept per counter and meter provider before the overflow series is used.
MAX_SERIES = 2000
OVERFLOW_ATTRIBUTES: Mapping[str, Any] = {"otel.metric.overflow": True}
_OVERFLOW_KEY: tuple[Any, ...] = (("otel.metric.overflow", True),)

logger = logging.getLogger("tripwire")


def _hashable_key(attributes: Mapping[str, Any]) -> tuple[Any, ...]:
    """A list value hashed as a tuple (the SDK exports both alike)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items())


class SummingCounter:
    """A monotonic counter summed in process and reported by an ``ObservableCounter``.

    ``add(amount, attributes)`` as on an OpenTelemetry ``Counter`` (negative and non-finite
    amounts are ignored with a warning, as the SDK does). :meth:`observe` is the callback.
    """

    def __init__(self, name: str, max_series: int = MAX_SERIES) -> None:
        self.name = name
        self.max_series = max(1, int(max_series))
        self._sums: dict[tuple[Any, ...], list[Any]] = {}  # key -> [sum, attributes]
        self._lock = threading.Lock()
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._sums)

    def add(self, amount: float, attributes: Mapping[str, Any] | None = None,
            context: Any = None) -> None:
        if not (amount >= 0 and math.isfinite(amount)):
            logger.warning("tripwire: amount %r ignored on counter %s (must be finite and "
                           "non-negative)", amount, self.name)
            return
        key = tuple(attributes.items()) if attributes else ()
        try:
            entry = self._sums.get(key)
        except TypeError:  # an unhashable (list) value
            key = _hashable_key(attributes)  # type: ignore[arg-type]
            entry = self._sums.get(key)
        if entry is None:
            entry = self._entry(key, attributes)
        with self._lock:
            entry[0] += amount

    def _entry(self, key: tuple[Any, ...], attributes: Mapping[str, Any] | None) -> list[Any]:
        with self._lock:
            entry = self._sums.get(key)
            if entry is not None:
                return entry
            if len(self._sums) >= self.max_series and key != _OVERFLOW_KEY:
                if not self.overflowed:
                    self.overflowed = True
                    logger.warning(
                        "tripwire: counter %s reached %d attribute sets; further ones are "
                        "added to the otel.metric.overflow=true series", self.name,
                        self.max_series)
                key, attributes = _OVERFLOW_KEY, OVERFLOW_ATTRIBUTES
                entry = self._sums.get(key)
                if entry is not None:
                    return entry
            entry = self._sums[key] = [0, dict(attributes or {})]
            return entry

    def observe(self, options: CallbackOptions | None = None) -> Iterable[Observation]:
        with self._lock:
            points = [(entry[0], entry[1]) for entry in self._sums.values()]
        return [Observation(value, attributes) for value, attributes in points]


@dataclass(frozen=True)
class Instruments:
    cost: SummingCounter
    refusals: SummingCounter
    budget_violations: SummingCounter
    model_changes: SummingCounter
    tool_call_errors: SummingCounter
    agent_runs: SummingCounter
    unpriced_calls: SummingCounter
    context_window_utilization: Histogram


# (name, unit, description) of each counter, and its field in Instruments.
_COUNTERS = (
    ("cost", semconv.METRIC_COST, "USD", "Cost of GenAI operations in US dollars"),
    ("refusals", semconv.METRIC_REFUSALS, "{refusal}",
     "Responses refused or filtered by the model"),
    ("budget_violations", semconv.METRIC_BUDGET_VIOLATIONS, "{violation}",
     "Budgets crossed (one per crossing, per budget)"),
    ("model_changes", semconv.METRIC_MODEL_CHANGES, "{change}",
     "Snapshot behind a requested model name changed"),
    ("tool_call_errors", semconv.METRIC_TOOL_CALL_ERRORS, "{error}",
     "Unknown tools, invalid arguments, failed executions and loops"),
    ("agent_runs", semconv.METRIC_AGENT_RUNS, "{run}", "Agent and workflow runs that ended"),
    ("unpriced_calls", semconv.METRIC_UNPRICED_CALLS, "{call}",
     "LLM calls that could not be priced (unknown model or no usage), never counted as $0"),
)


def _create(meter_provider: MeterProvider) -> Instruments:
    meter: Meter = get_meter(SCOPE, __version__, meter_provider, schema_url=semconv.SCHEMA_URL)
    try:
        utilization = meter.create_histogram(
            semconv.METRIC_CONTEXT_WINDOW_UTILIZATION, unit="1",
            description="Share of the model's context window used by the request's input",
            explicit_bucket_boundaries_advisory=[float(b) for b in semconv.UTILIZATION_BUCKETS],
        )
    except TypeError:  # opentelemetry-api < 1.23 has no advisory parameter
        utilization = meter.create_histogram(
            semconv.METRIC_CONTEXT_WINDOW_UTILIZATION, unit="1",
            description="Share of the model's context window used by the request's input",
        )
    counters: dict[str, SummingCounter] = {}
    for field, name, unit, description in _COUNTERS:
        counter = counters[field] = SummingCounter(name)
        meter.create_observable_counter(name, callbacks=[counter.observe], unit=unit,
                                        description=description)
    return Instruments(context_window_utilization=utilization, **counters)


class InstrumentRegistry:
    """One :class:`Instruments` set per meter provider, created on first use, then shared
    (an observable instrument is registered once per provider). Weakly keyed: a discarded
    provider takes its tables along. Owned by the process runtime."""

    def __init__(self) -> None:
        self._sets: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()
        self._unweakable: dict[int, tuple[Any, Instruments]] = {}
        self._lock = threading.Lock()
        self._global: tuple[Any, Instruments] | None = None

    def for_provider(self, meter_provider: MeterProvider | None = None) -> Instruments:
        """The instruments of ``meter_provider``; ``None``: those of the current global meter
        provider, and while none is set a no-op set (the API's proxy instruments drop
        measurements until then too)."""
        provider: Any = meter_provider if meter_provider is not None else _global_provider()
        found = self._lookup(provider)
        if found is not None:
            return found
        with self._lock:
            found = self._lookup(provider)
            if found is None:
                found = _create(provider)
                try:
                    self._sets[provider] = found
                except TypeError:  # not weakly referenceable: kept while the runtime lives
                    self._unweakable[id(provider)] = (provider, found)
            return found

    def of_global(self) -> Instruments:
        """The instruments of the global meter provider as it is now (cheap when unchanged)."""
        provider = get_meter_provider()
        cached = self._global
        if cached is not None and cached[0] is provider:
            return cached[1]
        instruments = self.for_provider(None)
        self._global = (provider, instruments)
        return instruments

    def _lookup(self, provider: Any) -> Instruments | None:
        try:
            return self._sets.get(provider)
        except TypeError:
            held = self._unweakable.get(id(provider))
            return held[1] if held is not None and held[0] is provider else None

    def clear(self) -> None:
        with self._lock:
            self._sets = weakref.WeakKeyDictionary()
            self._unweakable.clear()
            self._global = None


_NO_GLOBAL_YET = NoOpMeterProvider()


def _global_provider() -> Any:
    provider = get_meter_provider()
    if is_proxy_meter_provider(provider):  # no global provider set yet
        return _NO_GLOBAL_YET
    return provider
