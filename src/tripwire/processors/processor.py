"""EnrichingSpanProcessor: wraps the export processor and hands it an enriched copy of each span.

The SDK freezes a span's attributes before any processor's ``on_end`` runs, so enrichment
builds a new ``ReadableSpan`` (public constructor, the original's fields, merged attributes and
events) and passes that on. Spans nothing applies to pass through untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from opentelemetry import baggage
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanLimits, SpanProcessor
from opentelemetry.sdk.util import BoundedList

from tripwire import semconv
from tripwire._compat import on_ending_hook
from tripwire._core.guard import log_failure
from tripwire.budgets import active_blocks
from tripwire.processors.agents import AgentEnricher, track_agent_start
from tripwire.processors.base import Enricher, Enrichment, SpanData, fused_enrich
from tripwire.processors.budget import BudgetEnricher
from tripwire.processors.context_window import ContextWindowEnricher
from tripwire.processors.cost import CostEnricher
from tripwire.processors.drift import DriftEnricher
from tripwire.processors.ledger import USER_KEYS, root_route
from tripwire.processors.limits import clamp_to_limits
from tripwire.processors.metrics import Instruments
from tripwire.processors.refusal import RefusalEnricher
from tripwire.processors.rollup import RollupEnricher
from tripwire.processors.state import OpenCall, ProcessState, TraceRecord
from tripwire.processors.tool_loop import ToolLoopEnricher
from tripwire.runtime import Runtime, get_runtime
from tripwire.settings import Settings

# Span names of agent and workflow runs that carry no operation name (agents.is_agent_span).
_AGENT_PREFIXES = (semconv.OP_INVOKE_AGENT + " ", semconv.OP_INVOKE_WORKFLOW + " ")


def default_enrichers() -> list[Enricher]:
    """In order: cost first (rollup and budgets read it)."""
    return [CostEnricher(), RollupEnricher(), BudgetEnricher(), RefusalEnricher(),
            DriftEnricher(), ContextWindowEnricher(), ToolLoopEnricher(), AgentEnricher()]


def _attributes_copy(attrs: Any) -> dict[str, Any]:
    """A span's attributes as a new dict. The SDK hands them out as a read-only view of
    ``BoundedAttributes``, whose item reads are Python calls: ``copy()`` (the view passes it to
    the mapping) copies its dict in one step, ~10x faster than ``dict(view)``."""
    try:
        out = attrs.copy()
    except Exception:  # no copy(), or a view over a mapping that has none
        out = None
    if type(out) is dict:
        return out
    return dict(out) if isinstance(out, dict) else dict(attrs)


def _release(state: ProcessState, record: TraceRecord, trace_id: int, span_id: int) -> None:
    """The local root ended: the request is over in this process."""
    if record.root_span_id in (None, span_id):
        state.traces.pop(trace_id)


def _is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or parent.is_remote


def _baggage_into(record: TraceRecord, ctx: Context | None) -> None:
    values = baggage.get_all(ctx)
    if not values:
        return
    feature = values.get(semconv.BAGGAGE_FEATURE)
    if isinstance(feature, str) and feature:
        record.feature = feature
    for key in USER_KEYS:
        user = values.get(key)
        if isinstance(user, str) and user:
            record.user_id = user
            break
    conversation = values.get(semconv.GEN_AI_CONVERSATION_ID)
    if isinstance(conversation, str) and conversation:
        record.conversation_id = conversation


class EnrichingSpanProcessor(SpanProcessor):
    """Wrap ``next_processor`` (normally a ``BatchSpanProcessor``) and enrich what it receives.

    ``settings``: a fixed :class:`tripwire.settings.Settings`; by default the runtime's
    settings are read at each span, so ``tripwire.configure()`` applies at once.
    ``enrichers``: replace the default list (advanced; ``TRIPWIRE_DISABLED_ENRICHERS`` still
    applies). ``runtime``: the owner of cross-span state (default: the process runtime). State
    is shared by every instance on one runtime, so with one instance per exporter a request
    is still counted once. With a budget enricher, the processor attaches the runtime's
    budget gate (enforce mode refuses calls of exhausted budgets) until it shuts down.
    """

    def __init__(
        self,
        next_processor: SpanProcessor,
        *,
        meter_provider: MeterProvider | None = None,
        settings: Settings | None = None,
        enrichers: Sequence[Enricher] | None = None,
        runtime: Runtime | None = None,
        attach: bool = True,
    ) -> None:
        self.next_processor = next_processor
        self._settings = settings
        self._runtime = runtime = runtime or get_runtime()
        # Without a provider, the global one, followed lazily (resolved at each span).
        self._instruments: Instruments | None = (
            runtime.instruments.for_provider(meter_provider) if meter_provider is not None
            else None)
        self._enrichers = list(enrichers) if enrichers is not None else default_enrichers()
        self._steps = tuple((e.name, e) for e in self._enrichers)
        # Length limits for spans that do not carry their provider's (a ReadableSpan
        # snapshot): read from the environment once, as a TracerProvider reads them.
        self._fallback_limits = SpanLimits()
        if attach:  # the runtime's own accountant is not a processor of any provider
            runtime.attach(self, budget_gate=any(e.name == "budget" for e in self._enrichers))

    @property
    def settings(self) -> Settings:
        return self._settings or self._runtime.settings

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    # --- SpanProcessor -------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self._track_start(span, parent_context)
        except Exception:
            log_failure("enrichment on_start")
        self.next_processor.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        hook = on_ending_hook(self.next_processor)
        if hook is not None:
            hook(span)

    def on_end(self, span: ReadableSpan) -> None:
        enriched: ReadableSpan = span
        try:
            enriched = self._enrich(span)
        except Exception:
            log_failure("enrichment")
        self.next_processor.on_end(enriched)

    # --- accounting of spans that no processor sees (tripwire._core.accounting) ----------
    def observe_start(self, span: Any, parent_context: Context | None) -> None:
        """What :meth:`on_start` records, for a span of tripwire's that no processor sees
        (its sampler dropped it, or no processor is attached); never forwarded."""
        try:
            self._track_start(span, parent_context)
        except Exception:
            log_failure("accounting start")

    def account(self, span: ReadableSpan) -> None:
        """Cost, budgets, flags and metrics of such a span as it ends; never exported."""
        try:
            self._enrich(span, rebuild=False)  # nothing is exported: no enriched copy
        except Exception:
            log_failure("accounting")

    def shutdown(self) -> None:
        self._runtime.detach(self)
        self.next_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.next_processor.force_flush(timeout_millis)

    # --- internals -----------------------------------------------------------------------
    def _track_start(self, span: Span, parent_context: Context | None) -> None:
        ctx = span.get_span_context()
        state = self._runtime.state
        if _is_local_root(span):
            record = state.trace(ctx.trace_id)
            if record.root_span_id is None:
                record.root_span_id = ctx.span_id
                record.root_span = span
            _baggage_into(record, parent_context)
        elif baggage.get_all(parent_context):
            _baggage_into(state.trace(ctx.trace_id), parent_context)
        blocks = active_blocks()
        if blocks:
            state.span_blocks.set((ctx.trace_id, ctx.span_id), blocks)
        # The operation read once (a read of a live span's attributes is two Python calls).
        attrs = span.attributes
        operation = attrs.get(semconv.GEN_AI_OPERATION_NAME) if attrs else None
        _track_call(state, span, ctx, operation)
        # track_agent_start returns at once unless the span may be an agent run or one is
        # open: that test here saves its call and second attribute read on every span.
        if (operation in semconv.AGENT_OPERATIONS or len(state.agent_runs)
                or span.name.startswith(_AGENT_PREFIXES)):
            track_agent_start(state, span, ctx)

    def _enrich(self, span: ReadableSpan, rebuild: bool = True) -> ReadableSpan:
        ctx = span.context
        if ctx is None:
            return span
        attrs = span.attributes or {}
        operation = attrs.get(semconv.GEN_AI_OPERATION_NAME)
        is_root = _is_local_root(span)
        runtime = self._runtime
        state = runtime.state
        calls = state.calls
        call = calls.pop((ctx.trace_id, ctx.span_id)) if len(calls) else None
        agent_run = False
        if operation is None and not is_root:
            # An agent run told by its name at its start (pydantic-ai's run span has no
            # gen_ai.operation.name) still gets its rollup.
            runs = state.agent_runs
            agent_run = bool(len(runs)) and runs.get((ctx.trace_id, ctx.span_id)) is not None
            if not agent_run:
                links = state.agent_links
                if len(links):
                    links.pop((ctx.trace_id, ctx.span_id))  # a span inside a run ended
                return span  # not a GenAI span and no rollup to attach: the fast path
        # The table of spans already enriched by another instance (several exporters) is
        # only consulted while there is more than one.
        shared = runtime.processors_alive > 1
        key = (ctx.trace_id, ctx.span_id)
        done: Enrichment | None = state.processed.get(key) if shared else None
        if done is None:
            record = state.traces.get(ctx.trace_id)
            if operation is None and not agent_run:  # a local root: anything to roll up?
                if record is None:
                    return span
                if record.llm_calls == 0 and record.budget_exceeded is None:
                    _release(state, record, ctx.trace_id, ctx.span_id)
                    return span
            # One copy of the attributes: the enrichers read it, it collects their additions
            # and becomes the rebuilt span's.
            merged = _attributes_copy(attrs)
            if call is not None and call.is_call:
                done = _counted_once(self, span, ctx, state, record, merged, operation,
                                     is_root, call)
            else:
                done = self._compute(span, ctx, state, record, merged, operation, is_root)
            if shared:
                state.processed.set(key, done)
            if not rebuild or (not done.attributes and not done.events):
                return span
            return _rebuild(span, done, merged, self._fallback_limits)
        if not rebuild or (not done.attributes and not done.events):
            return span
        return _rebuild(span, done, None, self._fallback_limits)

    def _compute(self, span: ReadableSpan, ctx: Any, state: ProcessState,
                 record: TraceRecord | None, attributes: dict[str, Any], operation: Any,
                 is_root: bool) -> Enrichment:
        """Run the enrichers; ``attributes`` (a private copy) ends up with their additions."""
        settings = self.settings
        trace_id = ctx.trace_id
        if record is None and operation is not None:
            record = state.trace(trace_id)
        provider = (attributes.get(semconv.GEN_AI_PROVIDER_NAME)
                    or attributes.get(semconv.GEN_AI_SYSTEM))
        data = SpanData(
            span=span,
            attributes=attributes,
            settings=settings,
            state=state,
            runtime=self._runtime,
            instruments=self._instruments or self._runtime.instruments.of_global(),
            record=record,
            is_local_root=is_root,
            operation=operation if isinstance(operation, str) else None,
            provider=provider if isinstance(provider, str) else None,
        )
        feature = data.feature = self._feature(attributes, record, settings, is_root)
        added: dict[str, Any] = {}
        events: list[Event] = []
        if (feature and operation is not None
                and semconv.TRIPWIRE_FEATURE not in attributes):
            added[semconv.TRIPWIRE_FEATURE] = attributes[semconv.TRIPWIRE_FEATURE] = feature
        disabled = settings.disabled_enrichers
        # One pass: the default enrichers write straight into the span's additions
        # (``base.EnrichInto``: no Enrichment per enricher); others return an Enrichment.
        for name, enricher in self._steps:
            if disabled and name in disabled:
                continue
            try:
                enrich = enricher.enrich
                if getattr(enrich, "__func__", None) is fused_enrich:
                    # Later enrichers read the additions (budget reads the cost).
                    if enricher.enrich_into(data, added, events):  # type: ignore[attr-defined]
                        attributes.update(added)
                    continue
                more = enrich(data)
            except Exception:
                log_failure(f"enricher {name}")
                continue
            if more is not None:
                if more.attributes:
                    attributes.update(more.attributes)
                    added.update(more.attributes)
                if more.events:
                    events.extend(more.events)
        if is_root and record is not None:
            _release(state, record, trace_id, ctx.span_id)
        return Enrichment(added, events)

    @staticmethod
    def _feature(attrs: Any, record: TraceRecord | None, settings: Settings,
                 is_root: bool) -> str | None:
        value = attrs.get(semconv.TRIPWIRE_FEATURE)
        if isinstance(value, str) and value:
            return value
        if record is not None:
            value = record.feature
            if value:
                return value
        value = attrs.get(semconv.HTTP_ROUTE) if is_root else root_route(record)
        if isinstance(value, str) and value:
            return value
        value = settings.feature
        return value if isinstance(value, str) and value else None

class _Discard(SpanProcessor):
    """The next processor of the runtime's accountant: accounting only, nothing exported."""

    def on_end(self, span: ReadableSpan) -> None:
        pass


discard = _Discard()


# --- one provider call counted once ---------------------------------------------------------

def _track_call(state: ProcessState, span: Any, ctx: Any, operation: Any) -> None:
    """Remember an LLM call span (inference or embeddings, told by ``gen_ai.operation.name``
    at its start, ``operation``) and every span started inside one, while they are open: a
    call span nested in another describes the same provider call (two instrumentors, a
    framework's span around a client span) and is counted once (:func:`_counted_once`)."""
    calls = state.calls
    is_call = operation in semconv.PRICED_OPERATIONS
    if not len(calls):  # nothing open: no span around this one can be a call
        if is_call:
            calls.set((ctx.trace_id, ctx.span_id), OpenCall(True, None))
        return
    parent = span.parent
    enclosing = None
    if parent is not None:
        key = (parent.trace_id, parent.span_id)
        around = calls.get(key)
        if around is not None:
            enclosing = key if around.is_call else around.enclosing
    if is_call or enclosing is not None:
        calls.set((ctx.trace_id, ctx.span_id), OpenCall(is_call, enclosing))


def _carried_usage(attributes: dict[str, Any]) -> bool:
    return any(attributes.get(key) is not None for key in (
        semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        semconv.TRIPWIRE_COST_USD))


def _counted_once(processor: EnrichingSpanProcessor, span: ReadableSpan, ctx: Any,
                  state: ProcessState, record: TraceRecord | None, merged: dict[str, Any],
                  operation: Any, is_root: bool, call: OpenCall) -> Enrichment:
    """The enrichment of an LLM call span, counting the provider call once.

    Nested spans end first: the innermost span that carries usage is counted (cost, rollup,
    budgets, metrics) and marks the call spans around it; those are then annotated with
    ``tripwire.duplicate_of`` and nothing else. A reservation made by an enclosing span of
    tripwire's (enforce mode) is settled by the nested span that is counted."""
    if call.counted_in is not None:
        duplicate_of = format(call.counted_in, "016x")
        merged[semconv.TRIPWIRE_DUPLICATE_OF] = duplicate_of
        if not is_root:
            return Enrichment({semconv.TRIPWIRE_DUPLICATE_OF: duplicate_of}, [])
        # A local root still gets its trace's rollup; as a call it counts nothing (no
        # operation: nothing priced, charged or flagged).
        done = processor._compute(span, ctx, state, record, merged, None, is_root)
        done.attributes[semconv.TRIPWIRE_DUPLICATE_OF] = duplicate_of
        return done
    runtime = processor.runtime
    own = (ctx.trace_id, ctx.span_id)
    borrowed = None
    # A nested span without a reservation of its own settles the one around it (looked at,
    # not taken: a nested span of tripwire's settles its own).
    if call.enclosing is not None and not runtime.holds(*own):
        borrowed = runtime.take_reservation(*call.enclosing)
        if borrowed is not None:
            runtime.hold(borrowed, *own)
    done = processor._compute(span, ctx, state, record, merged, operation, is_root)
    if borrowed is not None:  # not settled here (no usage): back to the span that made it
        unsettled = runtime.take_reservation(*own)
        if unsettled is not None:
            runtime.hold(unsettled, *call.enclosing)  # type: ignore[misc]
    if call.enclosing is not None and _carried_usage(merged):
        calls = state.calls
        key: tuple[int, int] | None = call.enclosing
        while key is not None:
            around = calls.get(key)
            if around is None:
                break
            if around.is_call and around.counted_in is None:
                around.counted_in = ctx.span_id
            key = around.enclosing
    return done


def _rebuild(span: ReadableSpan, added: Enrichment, merged: dict[str, Any] | None,
             fallback_limits: SpanLimits) -> ReadableSpan:
    """A copy of ``span`` with ``added`` merged in, built with the public constructor only.

    ``merged``: the span's attributes with ``added`` already merged in, when the caller has
    them (no copy then); ``fallback_limits``: the length limits for spans without their own.
    """
    clamped = clamp_to_limits(span, added, fallback_limits)
    if merged is None or clamped is not added:
        merged = _attributes_copy(span.attributes or {})
        merged.update(clamped.attributes)
    events: Sequence[Event] = span.events
    if clamped.events:
        events = (*events, *clamped.events)
    links: Sequence[Any] = span.links
    # Bounded containers only when the original dropped something, to keep the counts.
    attributes: Any = MappingProxyType(merged)
    if span.dropped_attributes:
        attributes = BoundedAttributes(maxlen=None, attributes=merged, immutable=True)
        attributes.dropped = span.dropped_attributes
    if span.dropped_events:
        events = BoundedList.from_seq(None, events)
        events.dropped = span.dropped_events
    if span.dropped_links:
        links = BoundedList.from_seq(None, links)
        links.dropped = span.dropped_links
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
