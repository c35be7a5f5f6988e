"""Non-LLM operations as spans: retrievals (``retrieval {data source}``, CLIENT) and tool
executions (``execute_tool {tool name}``, INTERNAL).

Instrumentors and decorators describe one call with an :class:`OperationMapping`: ``build``
reads the call's arguments into an :class:`Operation`, ``parse_result`` reads what it returned
into an :class:`OperationResult`. Everything else is here, once, for sync and async callables:
suppression, de-duplication of nested wrappers around the same call, the span lifecycle, the
retrieval quality flags, tool argument hashes, content capture (opt-in), error recording and
the ``tripwire.retrieval.documents`` histogram. Every telemetry step is guarded; the wrapped
call's result and exceptions reach the caller untouched.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from tripwire import semconv
from tripwire._core import content
from tripwire._core.guard import guard, log_failure
from tripwire._core.instrumentor import resolve
from tripwire._core.telemetry import _histogram, make_telemetry
from tripwire._core.tools import arguments_hash
from tripwire.settings import get_settings

Lazy = Callable[[], Any]
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

# Lists of document ids/scores on a span are capped; tripwire.retrieval.document_count keeps
# the true number.
MAX_RECORDED_DOCUMENTS = 256

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


@dataclass(frozen=True)
class Hit:
    """One retrieved document: its id, its score as the store returned it, its content."""

    id: Any = None
    score: float | None = None
    content: Any = None  # only read when content capture is on


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


# --- telemetry -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OperationTelemetry:
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

class OperationSpan:
    """The span of one operation. Ends exactly once (first finisher wins)."""

    __slots__ = ("_end_lock", "_ended", "key", "metric_attrs", "operation", "span", "telemetry")

    def __init__(self, telemetry: OperationTelemetry, op: Operation) -> None:
        self.telemetry = telemetry
        self.operation = op
        self._ended = False
        self._end_lock = threading.Lock()
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
        self.span = telemetry.tracer.start_span(
            f"{op.operation} {op.name}" if op.name else op.operation, kind=kind, attributes=attrs
        )
        if self.span.is_recording():
            with guard("operation request content"):
                self._record_request_content()

    # --- context ---------------------------------------------------------------------
    def activate(self) -> object:
        ctx = trace.set_span_in_context(self.span)
        ctx = otel_context.set_value(_OPERATION_KEY, self.key, ctx)
        # The call id belonged to this execution; tools it runs in turn are other calls.
        ctx = otel_context.set_value(_TOOL_CALL_ID_KEY, None, ctx)
        return otel_context.attach(ctx)

    @staticmethod
    def deactivate(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    def _claim_end(self) -> bool:
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
            return True

    # --- the end ------------------------------------------------------------------------
    def finish(self, result: OperationResult | None) -> None:
        if not self._claim_end():
            return
        try:
            if result is not None:
                with guard("operation result attributes"):
                    self._record_result(result)
        finally:
            self._end_span()

    def fail(self, exc: BaseException) -> None:
        if not self._claim_end():
            return
        try:
            with guard("operation error attributes"):
                error_type = type(exc).__qualname__
                self.span.set_attribute(semconv.ERROR_TYPE, error_type)
                self.span.set_status(Status(StatusCode.ERROR, str(exc)[:1024] or error_type))
        finally:
            self._end_span()

    def _end_span(self) -> None:
        # A span processor that raises must not replace the app's result or exception.
        with guard("span processors"):
            self.span.end()

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
                    [_document_json(hit) for hits in result.hits for hit in hits]
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
        span.set_attributes(attrs)


def _document_json(hit: Hit) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if hit.id is not None:
        doc["id"] = str(hit.id)
    if hit.score is not None:
        doc["score"] = hit.score
    if hit.content is not None:
        doc["content"] = hit.content
    return doc


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no score


def retrieval_attributes(hits: Sequence[Sequence[Hit]], score_kind: str | None) -> dict[str, Any]:
    """The ``tripwire.retrieval.*`` quality attributes of one retrieval (one list per query).

    ``low_relevance`` is true when the best hit of any query is past the threshold for its
    score kind (similarity below ``retrieval_min_similarity``, distance above
    ``retrieval_max_distance``); it is only set when the scores and their kind are known.
    """
    flat = [hit for query in hits for hit in query]
    attrs: dict[str, Any] = {
        semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: len(flat),
        semconv.TRIPWIRE_RETRIEVAL_EMPTY: not flat,
    }
    recorded = flat[:MAX_RECORDED_DOCUMENTS]
    if any(hit.id is not None for hit in recorded):
        attrs[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_IDS] = [
            "" if hit.id is None else str(hit.id) for hit in recorded
        ]
    scores = [_number(hit.score) for hit in flat]
    if flat and all(score is not None for score in scores):
        attrs[semconv.TRIPWIRE_RETRIEVAL_SCORES] = scores[:MAX_RECORDED_DOCUMENTS]
        if score_kind is not None:
            attrs[semconv.TRIPWIRE_RETRIEVAL_SCORE_KIND] = score_kind
            attrs[semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE] = _low_relevance(hits, score_kind)
    return attrs


def _low_relevance(hits: Sequence[Sequence[Hit]], score_kind: str) -> bool:
    settings = get_settings()
    for query in hits:
        scores = [s for s in (_number(hit.score) for hit in query) if s is not None]
        if not scores:
            continue
        if score_kind == semconv.SCORE_KIND_DISTANCE:
            if min(scores) > settings.retrieval_max_distance:
                return True
        elif max(scores) < settings.retrieval_min_similarity:
            return True
    return False


# --- reading documents returned by retrievers -----------------------------------------------

_SIMILARITY_KEYS = ("score", "relevance_score", "similarity_score", "similarity")
_DISTANCE_KEYS = ("distance",)
_CONTENT_KEYS = ("page_content", "content", "text", "document")


def _lookup(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _first(item: Any, keys: Sequence[str]) -> tuple[str | None, Any]:
    for key in keys:
        value = _lookup(item, key)
        if value is not None:
            return key, value
    return None, None


def read_document(item: Any) -> tuple[Hit, str | None]:
    """A retrieved item as a :class:`Hit` and the kind of its score (None: no score).

    Reads dicts, objects and LangChain ``Document`` s (``id`` then ``metadata["id"]``;
    ``score`` / ``relevance_score`` / ``similarity_score`` / ``similarity`` are similarities,
    ``distance`` is a distance, also from ``metadata``), and ``(document, score)`` pairs as
    returned by ``similarity_search_with_score`` (taken as similarities).
    """
    if (isinstance(item, tuple) and len(item) == 2 and _number(item[1]) is not None
            and not isinstance(item[0], (int, float))):
        inner, _ = read_document(item[0])
        return Hit(id=inner.id, score=_number(item[1]), content=inner.content), \
            semconv.SCORE_KIND_SIMILARITY
    metadata = _lookup(item, "metadata")
    sources = [item] if not isinstance(metadata, Mapping) else [item, metadata]
    doc_id = None
    for source in sources:
        doc_id = _lookup(source, "id")
        if doc_id is not None:
            break
    score: float | None = None
    kind: str | None = None
    for source in sources:
        key, value = _first(source, _DISTANCE_KEYS)
        if key is not None and _number(value) is not None:
            score, kind = _number(value), semconv.SCORE_KIND_DISTANCE
            break
        key, value = _first(source, _SIMILARITY_KEYS)
        if key is not None and _number(value) is not None:
            score, kind = _number(value), semconv.SCORE_KIND_SIMILARITY
            break
    _, text = _first(item, _CONTENT_KEYS)
    if text is None and isinstance(item, str):
        text = item
    return Hit(id=doc_id, score=score, content=text), kind


def read_documents(items: Any) -> tuple[list[Hit], str | None]:
    """:func:`read_document` over a returned sequence; the score kind of the first scored item."""
    if items is None or isinstance(items, (str, bytes, Mapping)):
        items = [] if items is None else [items]
    hits: list[Hit] = []
    kind: str | None = None
    for item in items:
        hit, item_kind = read_document(item)
        hits.append(hit)
        kind = kind or item_kind
    return hits, kind


# --- the wrapper ---------------------------------------------------------------------------

def _begin(
    telemetry: OperationTelemetry, mapping: OperationMapping, instance: Any,
    args: tuple[Any, ...], kwargs: dict[str, Any],
) -> OperationSpan | None:
    if not is_instrumentation_enabled():
        return None
    try:
        op = mapping.build(instance, args, kwargs)
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
    try:
        return OperationSpan(telemetry, op)
    except Exception:
        log_failure("operation span start")
        return None


def _complete(span: OperationSpan, mapping: OperationMapping, result: Any) -> None:
    parsed = None
    try:
        parsed = mapping.parse_result(result, span.operation)
    except Exception:
        log_failure("operation result mapping")
    span.finish(parsed)


def make_operation_wrapper(
    telemetry: OperationTelemetry, mapping: OperationMapping, is_async: bool
) -> Wrapper:
    """A wrapt-style wrapper ``(wrapped, instance, args, kwargs)`` for a sync or async callable."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any,
                                args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            span = _begin(telemetry, mapping, instance, args, kwargs)
            if span is None:
                return await wrapped(*args, **kwargs)
            token = span.activate()
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                span.fail(exc)
                raise
            finally:
                span.deactivate(token)
            _complete(span, mapping, result)
            return result

        return async_wrapper

    def sync_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        span = _begin(telemetry, mapping, instance, args, kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        token = span.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            span.fail(exc)
            raise
        finally:
            span.deactivate(token)
        _complete(span, mapping, result)
        return result

    return sync_wrapper


def is_async_callable(fn: Any) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(fn))


def unwrap_operation(owner: Any, name: str) -> None:
    from opentelemetry.instrumentation.utils import unwrap

    unwrap(owner, name)


# --- argument helpers for mappings ---------------------------------------------------------

@functools.lru_cache(maxsize=512)
def _signature(fn: Callable[..., Any], method: bool) -> inspect.Signature | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if method:  # an unbound method: wrapt hands us the instance separately
        params = list(signature.parameters.values())[1:]
        signature = signature.replace(parameters=params)
    return signature


def bind_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
                   *, method: bool = False) -> dict[str, Any]:
    """The call's arguments by parameter name (``**kwargs`` parameters merged in).

    ``method``: ``fn`` is the function defined on a class and ``args`` exclude ``self``.
    """
    signature = _signature(fn, method)
    if signature is None:
        return dict(kwargs)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        if param.kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, dict):
            out.update(value)
        else:
            out[name] = value
    return out


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


# --- instrumentor helpers ------------------------------------------------------------------

# (module, class, method, mapping factory taking the original function)
Target = tuple[str, str, str, Callable[[Callable[..., Any]], OperationMapping]]


def wrap_targets(targets: Sequence[Target], telemetry: OperationTelemetry) -> list[tuple[Any, str]]:
    """Wrap every target that exists in the installed library version; returns what was wrapped."""
    import wrapt

    wrapped: list[tuple[Any, str]] = []
    for module, class_name, method, factory in targets:
        owner = resolve(module, class_name)
        if owner is None:
            continue
        original = owner.__dict__.get(method)
        # Already wrapped (wrapt 2's FunctionWrapper derives from BaseObjectProxy only).
        if original is None or isinstance(original, getattr(wrapt, "BaseObjectProxy",
                                                             wrapt.ObjectProxy)):
            continue
        try:
            mapping = factory(original)
            wrapt.wrap_function_wrapper(
                owner, method, make_operation_wrapper(telemetry, mapping, is_async_callable(original))
            )
        except Exception:
            log_failure("instrument " + class_name + "." + method)
            continue
        wrapped.append((owner, method))
    return wrapped


