"""Non-LLM operations as spans: retrievals (``retrieval {data source}``, CLIENT) and tool
executions (``execute_tool {tool name}``, INTERNAL).

Instrumentors and decorators describe one call with an :class:`OperationMapping`: ``build``
reads the call's arguments into an :class:`Operation`, ``parse_result`` reads what it returned
into an :class:`OperationResult`. This module maps those onto the span: de-duplication of
nested wrappers around the same call, the retrieval quality flags (``_core/retrieval.py``),
tool argument hashes, content capture (opt-in) and the ``tripwire.retrieval.documents``
histogram. The lifecycle and the wrapper are the ones every span shares
(``_core/lifecycle.py``); reading documents and arguments is in ``_core/documents.py`` and
``_core/arguments.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from tripwire import semconv
from tripwire._core import content
from tripwire._core.documents import Hit
from tripwire._core.guard import guard, log_failure
from tripwire._core.lifecycle import LiveSpan, MappedSpans
from tripwire._core.retrieval import document_json, retrieval_attributes
from tripwire._core.telemetry import _histogram, make_telemetry
from tripwire._core.tools import arguments_hash

Lazy = Callable[[], Any]

# The innermost active operation (kind, name, arguments hash): an identical nested operation
# is the same call seen by two wrappers (LangChain's ainvoke -> invoke, mcp's Client ->
# ClientSession, a @tool function inside a LangChain tool) and is not recorded twice.
_OPERATION_KEY = otel_context.create_key("tripwire-operation")
# The model's tool call id for the next execute_tool span started in this context.
_TOOL_CALL_ID_KEY = otel_context.create_key("tripwire-tool-call-id")


# --- descriptions --------------------------------------------------------------------------

@dataclass
class Operation:
    """One retrieval or tool execution as the mapping read it from the call's arguments."""

    operation: str  # semconv.OP_RETRIEVAL or semconv.OP_EXECUTE_TOOL
    name: str  # data source id (retrieval) or tool name (execute_tool)
    attributes: dict[str, Any] = field(default_factory=dict)
    # retrieval
    top_k: int | None = None
    score_kind: str | None = None  # semconv.SCORE_KIND_DISTANCE | SCORE_KIND_SIMILARITY
    query_text: Lazy | None = None  # content: only called when capture is on
    # execute_tool
    tool_type: str | None = None
    tool_call_id: str | None = None
    description: str | None = None
    arguments: Any = None  # hashed always; recorded only with content capture
    has_arguments: bool = False


@dataclass
class OperationResult:
    # retrieval: one list of hits per query (a batch query has several)
    hits: list[list[Hit]] | None = None
    # execute_tool: content builder for gen_ai.tool.call.result (capture only)
    output: Lazy | None = None
    # a result that reports failure without raising (MCP isError, LangChain status="error")
    error_type: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationMapping:
    """How one library method maps onto the core.

    ``build(instance, args, kwargs)`` returns ``None`` for a call that is not an operation
    (e.g. a Chroma ``get`` by ids); ``parse_result(result, operation)`` reads the outcome.
    """

    build: Callable[[Any, tuple[Any, ...], dict[str, Any]], Operation | None]
    parse_result: Callable[[Any, Operation], OperationResult | None]

    def spans(self, telemetry: OperationTelemetry, original: Callable[..., Any]
              ) -> OperationSpans:
        return OperationSpans(telemetry, self)


@dataclass(frozen=True)
class FunctionMapping:
    """A mapping made for the wrapped function itself, so that it can bind the call's
    arguments by the function's parameter names (:func:`~tripwire._core.arguments.
    bind_arguments`). Used as a decorator on ``factory(fn) -> OperationMapping``."""

    factory: Callable[[Callable[..., Any]], OperationMapping]

    def spans(self, telemetry: OperationTelemetry, original: Callable[..., Any]
              ) -> OperationSpans:
        return self.factory(original).spans(telemetry, original)


# --- telemetry -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OperationTelemetry:
    """An operation instrumentor's tracer and its ``tripwire.retrieval.documents`` histogram."""

    tracer: trace.Tracer
    documents: Histogram


def make_operation_telemetry(
    scope: str,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> OperationTelemetry:
    base = make_telemetry(scope, tracer_provider, meter_provider)
    documents = _histogram(
        base.meter,
        semconv.METRIC_RETRIEVAL_DOCUMENTS,
        "{document}",
        "Documents returned per retrieval query",
        semconv.RETRIEVAL_DOCUMENTS_BUCKETS,
    )
    return OperationTelemetry(tracer=base.tracer, documents=documents)


# --- context helpers -----------------------------------------------------------------------

@contextmanager
def tool_call_context(tool_call_id: str | None) -> Iterator[None]:
    """Run a block in which the next ``execute_tool`` span gets ``gen_ai.tool.call.id``.

    Use it where the application executes a tool call the model asked for and the tool API
    itself takes no call id (MCP, plain functions)::

        for call in response.choices[0].message.tool_calls:
            with tool_call_context(call.id):
                await session.call_tool(call.function.name, json.loads(call.function.arguments))
    """
    if not tool_call_id:
        yield
        return
    token = otel_context.attach(otel_context.set_value(_TOOL_CALL_ID_KEY, tool_call_id))
    try:
        yield
    finally:
        otel_context.detach(token)


def _context_tool_call_id() -> str | None:
    value = otel_context.get_value(_TOOL_CALL_ID_KEY)
    return value if isinstance(value, str) else None


def _operation_key(op: Operation) -> tuple[Any, ...]:
    if op.operation == semconv.OP_EXECUTE_TOOL:
        return (op.operation, op.name, op.attributes.get(semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH))
    return (op.operation, op.name)


# --- the live span -------------------------------------------------------------------------

class OperationSpan(LiveSpan[OperationResult]):
    """The live span of one retrieval or tool execution."""

    __slots__ = ("key", "metric_attrs", "operation", "telemetry")

    def __init__(self, telemetry: OperationTelemetry, op: Operation) -> None:
        self.telemetry = telemetry
        self.operation = op
        attrs = op.attributes
        attrs[semconv.GEN_AI_OPERATION_NAME] = op.operation
        if op.operation == semconv.OP_RETRIEVAL:
            kind = SpanKind.CLIENT
            attrs[semconv.GEN_AI_DATA_SOURCE_ID] = op.name
            if op.top_k is not None:
                attrs[semconv.GEN_AI_REQUEST_TOP_K_RETRIEVAL] = op.top_k
        else:
            kind = SpanKind.INTERNAL
            attrs[semconv.GEN_AI_TOOL_NAME] = op.name
            if op.tool_type:
                attrs[semconv.GEN_AI_TOOL_TYPE] = op.tool_type
            call_id = op.tool_call_id or _context_tool_call_id()
            if call_id:
                attrs[semconv.GEN_AI_TOOL_CALL_ID] = call_id
            if op.description:
                attrs[semconv.GEN_AI_TOOL_DESCRIPTION] = op.description
        self.key = _operation_key(op)
        self.metric_attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: op.operation,
            semconv.GEN_AI_DATA_SOURCE_ID: op.name,
        }
        LiveSpan.__init__(self, telemetry.tracer,  # not super(): as LLMCall, cheaper
                          f"{op.operation} {op.name}" if op.name else op.operation, kind, attrs)
        if self.span.is_recording():
            with guard("operation request content"):
                self._record_request_content()

    def _context(self, ctx: Context) -> Context:
        ctx = otel_context.set_value(_OPERATION_KEY, self.key, ctx)
        # The call id belonged to this execution; tools it runs in turn are other calls.
        return otel_context.set_value(_TOOL_CALL_ID_KEY, None, ctx)

    def _record_end(self, result: OperationResult | None, error_type: str | None) -> None:
        if result is not None:
            with guard("operation result attributes"):
                self._record_result(result)

    # --- helpers ------------------------------------------------------------------------
    def _record_request_content(self) -> None:
        op = self.operation
        mode = content.capture_mode()
        if not mode.on_span:
            return
        if op.operation == semconv.OP_RETRIEVAL:
            if op.query_text is not None:
                text = op.query_text()
                if text is not None:
                    self.span.set_attribute(
                        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT,
                        content.clean_text(text) if isinstance(text, str) else content.to_json(text),
                    )
        elif op.has_arguments:
            self.span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, content.to_json(op.arguments))

    def _record_result(self, result: OperationResult) -> None:
        span = self.span
        op = self.operation
        attrs: dict[str, Any] = dict(result.attributes)
        capture = content.capture_mode().on_span
        if result.hits is not None:
            attrs.update(retrieval_attributes(result.hits, op.score_kind))
            with guard("retrieval metrics"):
                ctx = trace.set_span_in_context(span)  # exemplars point at this span
                for hits in result.hits or [[]]:
                    self.telemetry.documents.record(len(hits), self.metric_attrs, context=ctx)
            if capture:
                attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS] = content.to_json(
                    [document_json(hit) for hits in result.hits for hit in hits]
                )
        if result.error_type:
            attrs[semconv.ERROR_TYPE] = result.error_type
            span.set_status(Status(StatusCode.ERROR, result.error_type))
        if capture and result.output is not None:
            output = result.output()
            if output is not None:
                attrs[semconv.GEN_AI_TOOL_CALL_RESULT] = (
                    content.clean_text(output) if isinstance(output, str) else content.to_json(output)
                )
        self.set_safe(attrs)


# --- starting and completing ---------------------------------------------------------------

class OperationSpans(MappedSpans[OperationTelemetry, OperationMapping]):
    """Starts and completes the :class:`OperationSpan` of one wrapped callable's calls."""

    __slots__ = ()

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> OperationSpan | None:
        try:
            op = self.mapping.build(instance, args, kwargs)
            if op is None:
                return None
            if op.operation == semconv.OP_EXECUTE_TOOL:
                op.attributes[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] = arguments_hash(
                    op.arguments if op.has_arguments else {}
                )
        except Exception:
            log_failure("operation mapping")
            return None
        if otel_context.get_value(_OPERATION_KEY) == _operation_key(op):
            return None  # the same call, already recorded by an outer wrapper
        return OperationSpan.try_start(self.telemetry, op)

    def complete(self, span: OperationSpan, result: Any) -> Any:
        parsed = None
        try:
            parsed = self.mapping.parse_result(result, span.operation)
        except Exception:
            log_failure("operation result mapping")
        span.finish(parsed)
        return result
