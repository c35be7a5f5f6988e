"""Cross-span state tables: bounded in size (LRU) and in age (TTL).

One :class:`ProcessState` is owned by the process runtime (:mod:`tripwire.runtime`), so
several ``EnrichingSpanProcessor`` instances (one per exporter) share it and a request is
counted once. Bounds come from ``state_max_entries`` / ``state_ttl_seconds``; a change of
those resizes the tables in place (entries that still fit are kept).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_clock = time.monotonic


class BoundedTable(Generic[K, V]):
    """A thread-safe mapping bounded by entry count (least recently used go first) and age.

    ``ttl_seconds == 0`` disables the age bound. Expired entries are dropped lazily, on access
    and when the table is full, so no background thread is needed.
    """

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max(1, int(max_entries))
        self.ttl = float(ttl_seconds)
        self._data: OrderedDict[K, list[Any]] = OrderedDict()  # key -> [stamp, value]
        self.lock = threading.RLock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._data)

    def _expired(self, stamp: float, now: float) -> bool:
        return self.ttl > 0 and now - stamp > self.ttl

    def get(self, key: K) -> V | None:
        with self.lock:
            item = self._data.get(key)
            if item is None:
                return None
            now = _clock()
            if self.ttl > 0 and now - item[0] > self.ttl:
                del self._data[key]
                return None
            item[0] = now
            self._data.move_to_end(key)
            return item[1]  # type: ignore[no-any-return]

    def set(self, key: K, value: V) -> None:
        with self.lock:
            now = _clock()
            data = self._data
            data[key] = [now, value]
            data.move_to_end(key)
            self._trim(now)

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        with self.lock:
            item = self._data.get(key)
            if item is not None:
                now = _clock()
                if not (self.ttl > 0 and now - item[0] > self.ttl):
                    item[0] = now
                    self._data.move_to_end(key)
                    return item[1]  # type: ignore[no-any-return]
            value = factory()
            self.set(key, value)
            return value

    def pop(self, key: K) -> V | None:
        with self.lock:
            item = self._data.pop(key, None)
            return None if item is None else item[1]  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self.lock:
            self._data.clear()

    def resize(self, max_entries: int, ttl_seconds: float) -> None:
        """New bounds; what no longer fits (oldest first) or is too old is dropped."""
        with self.lock:
            self.max_entries = max(1, int(max_entries))
            self.ttl = float(ttl_seconds)
            self._trim()

    def _trim(self, now: float | None = None) -> None:
        data = self._data
        if self.ttl > 0:
            if now is None:
                now = _clock()
            while data:
                stamp = next(iter(data.values()))[0]
                if not self._expired(stamp, now):
                    break
                data.popitem(last=False)
                self.evicted += 1
        while len(data) > self.max_entries:
            data.popitem(last=False)
            self.evicted += 1


@dataclass
class TraceRecord:
    """What the enrichers know about one trace in this process."""

    root_span_id: int | None = None
    root_span: Any = None  # the live local root span (for http.route), dropped with the record
    feature: str | None = None  # from baggage
    user_id: str | None = None  # from baggage or a span attribute
    conversation_id: str | None = None
    cost_usd: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unpriced_calls: int = 0
    priced_calls: int = 0  # calls whose cost is in cost_usd
    usage_unknown_calls: int = 0  # calls with a token count missing (not counted as 0)
    input_reported: bool = False  # some call reported input tokens
    output_reported: bool = False
    budget_exceeded: Any = None  # first crossing in this trace (a ledger Crossing)
    tool_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    # (provider, request model, response model) of the last inference span that ended:
    # the model that asked for the tools executed next (their error metrics carry it)
    last_model: tuple[str | None, str | None, str | None] | None = None


@dataclass(slots=True)
class OpenCall:
    """A span still open that is an LLM call (inference or embeddings), or runs inside one:
    how nested spans describing one provider call are counted once."""

    is_call: bool
    # (trace_id, span_id) of the nearest open call span around this one, if any
    enclosing: tuple[int, int] | None
    # span id of a nested span that already carried this call's usage (it was counted there)
    counted_in: int | None = None


def _processed_bounds(size: int, ttl: float) -> tuple[int, float]:
    # A span's additions are only needed while the other exporters' processors run.
    return min(size, 4096), (min(ttl, 60.0) if ttl > 0 else 60.0)


@dataclass
class ProcessState:
    """Every cross-span table of the process. Budget accounts are not here: they belong to
    the budget ledger (:mod:`tripwire.processors.ledger`), which may live in a shared store."""

    traces: BoundedTable[int, TraceRecord]
    # (trace_id, span_id) -> additions already computed by another processor instance
    processed: BoundedTable[tuple[int, int], Any]
    # (provider, request model) -> last response model seen
    drift: BoundedTable[tuple[str | None, str], str]
    # (trace_id, span_id) -> tripwire.budget() blocks active when the span started
    span_blocks: BoundedTable[tuple[int, int], tuple[Any, ...]]
    # (trace_id, span_id) -> an open LLM call span, or a span inside one (see OpenCall)
    calls: BoundedTable[tuple[int, int], OpenCall]
    # (trace_id, span_id) -> running totals of an open agent/workflow span (processors/agents.py)
    agent_runs: BoundedTable[tuple[int, int], Any]
    # (trace_id, span_id) -> the nearest open agent/workflow span around a span inside one
    agent_links: BoundedTable[tuple[int, int], tuple[int, int]]

    @classmethod
    def bounded(cls, size: int, ttl: float) -> ProcessState:
        return cls(traces=BoundedTable(size, ttl),
                   processed=BoundedTable(*_processed_bounds(size, ttl)),
                   drift=BoundedTable(size, ttl),
                   span_blocks=BoundedTable(size, ttl),
                   calls=BoundedTable(size, ttl),
                   agent_runs=BoundedTable(size, ttl),
                   agent_links=BoundedTable(size, ttl))

    def trace(self, trace_id: int) -> TraceRecord:
        return self.traces.get_or_create(trace_id, TraceRecord)

    def resize(self, size: int, ttl: float) -> None:
        for table in (self.traces, self.drift, self.span_blocks, self.calls, self.agent_runs,
                      self.agent_links):
            table.resize(size, ttl)
        self.processed.resize(*_processed_bounds(size, ttl))

    def clear(self) -> None:
        for table in (self.traces, self.processed, self.drift, self.span_blocks, self.calls,
                      self.agent_runs, self.agent_links):
            table.clear()
