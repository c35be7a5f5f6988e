"""Accounting that does not depend on sampling or on the processor being installed.

Every call tripwire's instrumentors see is costed, counted in the ``tripwire.*`` metrics and
charged to budgets once. Normally the enrichment processor does it when the span ends. Two
cases never reach a processor:

- the sampler dropped the span (``TraceIdRatioBased``, ``ALWAYS_OFF``, a parent that was not
  sampled): the SDK hands out a non-recording span and calls no processor;
- no enrichment processor is attached to the runtime (the instrumentors used on their own).

Then the live span accounts for itself: :func:`start_span` returns, for a span the sampler
dropped, a :class:`ShadowSpan` — non-recording to everyone else, but keeping the attributes
and events tripwire sets — and :class:`Accounting` hands the ended span to the runtime's
accountant (the enrichment steps without an exporter). What is exported still follows the
user's sampler: a shadow span is never exported.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes

from tripwire._core.guard import log_failure
from tripwire.runtime import Runtime, get_runtime

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Event, ReadableSpan

_now_ns = time.time_ns


def _fresh_context(parent: SpanContext | None) -> SpanContext:
    """Ids for a span no SDK tracer gave ids to (a no-op tracer): unique per call, in the
    parent's trace when there is one, so per-trace state and reservations never collide."""
    trace_id = parent.trace_id if parent is not None else random.getrandbits(128) or 1
    return SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False,
                       trace_flags=TraceFlags(TraceFlags.DEFAULT))


class ShadowSpan(trace.Span):
    """A span the sampler dropped, as tripwire's accounting sees it: not recording (others
    instrumenting inside it skip their work, as with any non-recording span), never exported,
    but what tripwire sets on it is kept for :meth:`readable`."""

    __slots__ = ("_attributes", "_context", "_end", "_events", "_kind", "_name", "_parent",
                 "_resource", "_scope", "_start", "_status")

    def __init__(self, dropped: trace.Span, name: str, kind: SpanKind,
                 attributes: Mapping[str, Any], parent: SpanContext | None,
                 tracer: trace.Tracer) -> None:
        ctx = dropped.get_span_context()
        self._context = ctx if ctx.is_valid else _fresh_context(parent)
        self._parent = parent
        self._name = name
        self._kind = kind
        self._attributes: dict[str, Any] = dict(attributes)
        self._events: list[Event] = []
        self._status = Status(StatusCode.UNSET)
        self._start = _now_ns()
        self._end: int | None = None
        # An SDK tracer's resource and scope, when it has them (a no-op tracer has neither).
        self._resource = getattr(tracer, "resource", None)
        self._scope = getattr(tracer, "instrumentation_scope", None)

    # --- the span API: recorded for accounting, otherwise a non-recording span ------------
    def get_span_context(self) -> SpanContext:
        return self._context

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes

    def is_recording(self) -> bool:
        return False

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self._attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self._attributes[key] = value

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None:
        from opentelemetry.sdk.trace import Event  # the SDK only when it is in use

        self._events.append(Event(name, attributes=attributes, timestamp=timestamp))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        pass  # links play no part in accounting

    def update_name(self, name: str) -> None:
        self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(self, exception: BaseException, attributes: Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        pass  # the error type and status are what accounting reads

    def end(self, end_time: int | None = None) -> None:
        if self._end is None:
            self._end = end_time or _now_ns()

    def readable(self) -> ReadableSpan:
        """The ended span as processors see spans."""
        from opentelemetry.sdk.trace import ReadableSpan

        kwargs: dict[str, Any] = {}
        if self._resource is not None:
            kwargs["resource"] = self._resource
        if self._scope is not None:
            kwargs["instrumentation_scope"] = self._scope
        return ReadableSpan(name=self._name, context=self._context, parent=self._parent,
                            attributes=self._attributes, events=tuple(self._events),
                            kind=self._kind, status=self._status, start_time=self._start,
                            end_time=self._end or _now_ns(), **kwargs)


class Accounting:
    """Who accounts for one of tripwire's spans when no processor will: the runtime's
    accountant, told at the start (budget blocks, baggage, nesting) and at the end."""

    __slots__ = ("_accountant",)

    def __init__(self, runtime: Runtime, span: trace.Span, parent_context: Context) -> None:
        self._accountant = runtime.accountant()
        self._accountant.observe_start(span, parent_context)

    def ended(self, span: trace.Span) -> None:
        try:
            readable = span.readable() if isinstance(span, ShadowSpan) else span
            # A ReadableSpan can only exist once the SDK is loaded (not imported for this).
            sdk = sys.modules.get("opentelemetry.sdk.trace")
            if sdk is not None and isinstance(readable, sdk.ReadableSpan):
                self._accountant.account(readable)
        except Exception:
            log_failure("accounting")


def start_span(tracer: trace.Tracer, name: str, kind: SpanKind,
               attributes: dict[str, Any], ctx: Context) -> tuple[trace.Span, Accounting | None]:
    """Start one of tripwire's spans; with the :class:`Accounting` that must see its end when
    no enrichment processor will (the span is not recording, or no processor is attached)."""
    span = tracer.start_span(name, ctx, kind=kind, attributes=attributes)
    runtime = get_runtime()
    recording = span.is_recording()
    if recording and runtime.processors_alive:  # a plain int: this runs for every call
        return span, None  # the common case: the processor accounts for it as it ends
    if not runtime.processors_alive and not runtime.accounting_observed():
        return span, None  # no processor, no budget, no metrics: nobody would see it
    if not recording:
        parent = trace.get_current_span(ctx).get_span_context()
        span = ShadowSpan(span, name, kind, attributes, parent if parent.is_valid else None,
                          tracer)
    try:
        return span, Accounting(runtime, span, ctx)
    except Exception:
        log_failure("accounting start")
        return span, None


__all__ = ["Accounting", "ShadowSpan", "start_span"]
