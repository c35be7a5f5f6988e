"""What an enricher sees of a span, and what it returns.

An enricher is a small object with a ``name`` (as in ``TRIPWIRE_DISABLED_ENRICHERS``) and one
method, ``enrich(span) -> Enrichment | None``. ``span`` is a :class:`SpanData`: the ended span's
name, kind, parent, events and attributes, where ``attributes`` already include what earlier
enrichers added (cost comes before budget), plus the process-wide trace record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, set_span_in_context

from tripwire import semconv
from tripwire._core.fields import plausible_count
from tripwire.processors.metrics import Instruments
from tripwire.processors.state import ProcessState, TraceRecord
from tripwire.runtime import Runtime
from tripwire.settings import Settings


@dataclass
class Enrichment:
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)  # built for every GenAI span and read ~40 times: slots are faster
class SpanData:
    span: ReadableSpan
    attributes: dict[str, Any]  # the span's attributes with earlier enrichers' additions
    settings: Settings
    state: ProcessState
    runtime: Runtime  # the owner of state, ledger, price books and budget rules
    instruments: Instruments
    record: TraceRecord | None  # this trace's record (None when nothing was ever recorded)
    is_local_root: bool
    operation: str | None
    provider: str | None
    feature: str | None = None
    _metric_attrs: dict[str, Any] | None = None
    _price_and_window: tuple[Any, int | None] | None = None
    # Derived once from ``operation`` and the attributes (read by every enricher).
    is_priced_operation: bool = field(init=False)
    is_inference: bool = field(init=False)
    request_model: str | None = field(init=False)
    response_model: str | None = field(init=False)
    input_tokens: int | None = field(init=False)
    output_tokens: int | None = field(init=False)
    usage_invalid: bool = field(init=False)  # a token count that cannot be right was ignored

    def __post_init__(self) -> None:
        operation = self.operation
        self.is_priced_operation = operation in semconv.PRICED_OPERATIONS
        self.is_inference = operation in semconv.INFERENCE_OPERATIONS
        get = self.attributes.get
        value = get(semconv.GEN_AI_REQUEST_MODEL)
        self.request_model = value if isinstance(value, str) and value else None
        value = get(semconv.GEN_AI_RESPONSE_MODEL)
        self.response_model = value if isinstance(value, str) and value else None
        self.usage_invalid = False
        self.input_tokens = self.token_attr(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        self.output_tokens = self.token_attr(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def kind(self) -> SpanKind:
        return self.span.kind

    @property
    def parent(self) -> SpanContext | None:
        return self.span.parent

    @property
    def events(self) -> Sequence[Event]:
        return self.span.events

    @property
    def trace_id(self) -> int:
        ctx = self.span.context
        return ctx.trace_id if ctx is not None else 0

    @property
    def end_time(self) -> int:
        return self.span.end_time or 0

    def int_attr(self, key: str) -> int | None:
        value = self.attributes.get(key)
        if type(value) is int:  # the common case, checked first
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value)

    def token_attr(self, key: str) -> int | None:
        """A token count attribute; a value that cannot be one (negative, not whole, absurd:
        any instrumentor may have written it) is ignored and marks :attr:`usage_invalid`."""
        value = self.attributes.get(key)
        if value is None:
            return None
        count = plausible_count(value)
        if count is None:
            self.usage_invalid = True
        return count

    def price_and_window(self) -> tuple[Any, int | None]:
        """The price to charge and the context window (looked up once per span)."""
        found = self._price_and_window
        if found is None:
            book = self.runtime.price_book(self.settings.prices_file)
            found = self._price_and_window = book.for_span(
                self.provider, self.response_model, self.request_model)
        return found

    def exemplar_context(self) -> Context | None:
        """A context whose current span is this one, for the metric points recorded about it:
        their exemplars then point at this span, not at whatever is current when it ends."""
        ctx = self.span.context
        return set_span_in_context(NonRecordingSpan(ctx)) if ctx is not None else None

    def metric_attributes(self) -> dict[str, Any]:
        """Low-cardinality dimensions only: provider, operation, models, feature (a copy)."""
        return dict(self.shared_metric_attributes())

    def shared_metric_attributes(self) -> dict[str, Any]:
        """:meth:`metric_attributes` without the copy: pass it on, never modify it."""
        attrs = self._metric_attrs
        if attrs is None:
            attrs = {}
            if self.provider:
                attrs[semconv.GEN_AI_PROVIDER_NAME] = self.provider
            if self.operation:
                attrs[semconv.GEN_AI_OPERATION_NAME] = self.operation
            if self.request_model:
                attrs[semconv.GEN_AI_REQUEST_MODEL] = self.request_model
            if self.response_model:
                attrs[semconv.GEN_AI_RESPONSE_MODEL] = self.response_model
            if self.feature:
                attrs[semconv.TRIPWIRE_FEATURE] = self.feature
            self._metric_attrs = attrs
        return attrs


class Enricher(Protocol):
    name: str

    def enrich(self, span: SpanData) -> Enrichment | None: ...


# The fused form the default enrichers also have: ``enrich_into(span, added, events)`` puts
# what ``enrich`` would return straight into the processor's ``added`` dict and ``events``
# list (no ``Enrichment`` per enricher and span) and returns whether it added anything. It
# writes only after everything that could raise, so a failing enricher adds nothing, as
# with ``enrich``. Optional: the processor calls ``enrich`` on enrichers without it.
EnrichInto = Callable[[SpanData, dict[str, Any], list[Event]], bool]


def fused_enrich(self: Any, span: SpanData) -> Enrichment | None:
    """The ``enrich`` of an enricher that has ``enrich_into`` (``enrich = fused_enrich`` in
    its class). The processor calls ``enrich_into`` directly only while ``enrich`` is this
    function: a subclass or a patch that replaces ``enrich`` is called as such."""
    added: dict[str, Any] = {}
    events: list[Event] = []
    self.enrich_into(span, added, events)
    return Enrichment(added, events) if added or events else None


def event(name: str, timestamp: int, attributes: Mapping[str, Any]) -> Event:
    return Event(name, attributes=dict(attributes), timestamp=timestamp or None)
