"""Spans for plain functions: ``@tool`` (``execute_tool {name}``) and ``@retriever``
(``retrieval {data source}``), for sync and async functions.

::

    from tripwire.decorators import retriever, tool

    @tool
    def get_weather(city: str) -> str: ...

    @tool(name="search_orders")
    async def find_orders(customer_id: str) -> list[dict]: ...

    @retriever(data_source="kb")
    def search_kb(query: str, k: int = 4) -> list[dict]:   # [{"id": ..., "score": ...}]
        ...

    get_weather("Paris", tool_call_id=call.id)   # links the span to the model's tool call

A ``@tool`` call records ``gen_ai.tool.name``, ``gen_ai.tool.type`` (``function``),
``gen_ai.tool.description`` (first docstring paragraph), ``tripwire.tool.arguments_hash`` of
the bound arguments, and — only with content capture — the arguments and the result. The
``tool_call_id=`` keyword is consumed by the decorator unless the function declares it.

A ``@retriever`` call reads ``id`` and ``score`` from each returned item: dicts, objects,
LangChain ``Document`` s (``id`` / ``metadata``) or ``(document, score)`` pairs. Scores are
similarities unless the items carry ``distance`` or ``score_kind="distance"`` is given.

The decorators use the global tracer and meter providers unless :func:`configure` names others.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from tripwire import semconv
from tripwire._core.arguments import as_int, bind_arguments
from tripwire._core.documents import read_documents
from tripwire._core.guard import log_failure
from tripwire._core.lifecycle import Wrapper, is_async_callable, span_wrapper
from tripwire._core.operations import (
    Operation,
    OperationMapping,
    OperationResult,
    OperationTelemetry,
    make_operation_telemetry,
    tool_call_context,
)
from tripwire.runtime import get_runtime

F = TypeVar("F", bound=Callable[..., Any])

_TOOL_CALL_ID_KWARG = "tool_call_id"
_SKIPPED_PARAMS = frozenset({"self", "cls"})
_QUERY_PARAMS = ("query", "question", "text", "q")
_TOP_K_PARAMS = ("k", "top_k", "limit", "n_results")

def configure(tracer_provider: TracerProvider | None = None,
              meter_provider: MeterProvider | None = None) -> None:
    """Use these providers for decorator spans and metrics (``None``: the global ones).
    Kept by the process runtime; ``tripwire.testing.reset()`` goes back to the global ones."""
    runtime = get_runtime()
    runtime.decorator_providers = (tracer_provider, meter_provider)
    runtime.decorator_telemetry = None


def _get_telemetry() -> OperationTelemetry:
    runtime = get_runtime()
    telemetry: OperationTelemetry | None = runtime.decorator_telemetry
    if telemetry is None:
        telemetry = runtime.decorator_telemetry = make_operation_telemetry(
            __name__, *runtime.decorator_providers)
    return telemetry


def _description(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    return doc.split("\n\n", 1)[0].strip() or None


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _arguments(fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = bind_arguments(fn, args, kwargs)
    return {k: v for k, v in bound.items() if k not in _SKIPPED_PARAMS}


def _instrument(fn: Callable[..., Any], mapping: OperationMapping) -> Callable[..., Any]:
    """Wrap ``fn`` so each call goes through the operation wrapper; sync or async alike."""
    is_async = is_async_callable(fn)
    keeps_call_id = _accepts(fn, _TOOL_CALL_ID_KWARG)
    cache: dict[int, tuple[OperationTelemetry, Wrapper]] = {}

    def wrapper_for() -> Wrapper | None:
        try:
            telemetry = _get_telemetry()
            cached = cache.get(0)
            if cached is None or cached[0] is not telemetry:
                cached = (telemetry, span_wrapper(mapping.spans(telemetry, fn), is_async))
                cache[0] = cached
            return cached[1]
        except Exception:
            log_failure("decorator telemetry")
            return None

    def split(kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        call_id = kwargs.get(_TOOL_CALL_ID_KWARG)
        if not keeps_call_id and _TOOL_CALL_ID_KWARG in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != _TOOL_CALL_ID_KWARG}
        return (str(call_id) if call_id else None), kwargs

    if is_async:

        @functools.wraps(fn)
        async def async_inner(*args: Any, **kwargs: Any) -> Any:
            call_id, kwargs = split(kwargs)
            wrapper = wrapper_for()
            if wrapper is None:
                return await fn(*args, **kwargs)
            with tool_call_context(call_id):
                return await wrapper(fn, None, args, kwargs)

        return async_inner

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        call_id, kwargs = split(kwargs)
        wrapper = wrapper_for()
        if wrapper is None:
            return fn(*args, **kwargs)
        with tool_call_context(call_id):
            return wrapper(fn, None, args, kwargs)

    return inner


# --- @tool ---------------------------------------------------------------------------------

def _tool_mapping(fn: Callable[..., Any], name: str, tool_type: str,
                  description: str | None) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        arguments = _arguments(fn, args, kwargs)
        arguments.pop(_TOOL_CALL_ID_KWARG, None)
        return Operation(
            operation=semconv.OP_EXECUTE_TOOL,
            name=name,
            tool_type=tool_type,
            description=description,
            arguments=arguments,
            has_arguments=True,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        return OperationResult(output=lambda: result)

    return OperationMapping(build=build, parse_result=parse)


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(*, name: str | None = None, description: str | None = None,
         tool_type: str = semconv.TOOL_TYPE_FUNCTION) -> Callable[[F], F]: ...


def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None,
         tool_type: str = semconv.TOOL_TYPE_FUNCTION) -> Any:
    """Record every call of the decorated function as an ``execute_tool`` span."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        mapping = _tool_mapping(func, name or func.__name__, tool_type,
                                description if description is not None else _description(func))
        return _instrument(func, mapping)

    return decorate(fn) if fn is not None else decorate


# --- @retriever ----------------------------------------------------------------------------

def _retriever_mapping(fn: Callable[..., Any], data_source: str,
                       score_kind: str | None) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        params = _arguments(fn, args, kwargs)
        query = next((params[p] for p in _QUERY_PARAMS if isinstance(params.get(p), str)), None)
        if query is None:
            query = next((v for v in params.values() if isinstance(v, str)), None)
        top_k = next((as_int(params[p]) for p in _TOP_K_PARAMS if as_int(params.get(p))), None)
        return Operation(
            operation=semconv.OP_RETRIEVAL,
            name=data_source,
            top_k=top_k,
            score_kind=score_kind,
            query_text=(lambda: query) if query is not None else None,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        hits, kind = read_documents(result)
        if op.score_kind is None:
            op.score_kind = kind
        return OperationResult(hits=[hits])

    return OperationMapping(build=build, parse_result=parse)


def retriever(*, data_source: str, score_kind: str | None = None) -> Callable[[F], F]:
    """Record every call of the decorated function as a ``retrieval {data_source}`` span.

    ``score_kind``: ``"similarity"`` (higher is closer) or ``"distance"`` (lower is closer);
    by default taken from the items (``distance`` key) and otherwise similarity.
    """
    if score_kind not in (None, semconv.SCORE_KIND_DISTANCE, semconv.SCORE_KIND_SIMILARITY):
        raise ValueError(
            f"score_kind must be {semconv.SCORE_KIND_SIMILARITY!r} or "
            f"{semconv.SCORE_KIND_DISTANCE!r}, not {score_kind!r}"
        )

    def decorate(func: F) -> F:
        return _instrument(func, _retriever_mapping(func, data_source, score_kind))  # type: ignore[return-value]

    return decorate


__all__ = ["configure", "retriever", "tool", "tool_call_context"]
