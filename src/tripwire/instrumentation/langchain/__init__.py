"""OpenTelemetry instrumentation for ``langchain-core`` retrievers and tools.

Usage::

    from tripwire.instrumentation.langchain import LangChainInstrumentor
    LangChainInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

- ``BaseRetriever.invoke`` / ``ainvoke`` (every LangChain retriever): a ``retrieval {name}``
  span, where the name is the retriever's ``name`` if set, else its class name. A retriever
  backed by an instrumented store (Chroma, Qdrant) shows the store's span as a child.
  Document ids come from ``Document.id`` (or ``metadata["id"]``), scores from
  ``metadata["score"|"relevance_score"|"similarity_score"|"similarity"]`` (similarities) or
  ``metadata["distance"]`` (distances).
- ``BaseTool.invoke`` / ``ainvoke`` (and the ``ainvoke`` overrides of ``Tool`` and
  ``StructuredTool``): an ``execute_tool {tool name}`` span. When the input is a ``ToolCall``
  (``{"type": "tool_call", "id": ..., "args": ...}``, what ``AIMessage.tool_calls`` holds),
  its id becomes ``gen_ai.tool.call.id`` and matches ``tripwire.tool_call.ids`` on the LLM
  span that asked for it. A handled tool error (``ToolMessage`` with ``status="error"``) sets
  ``error.type``.

This wraps the methods rather than registering a callback handler, so that spans become the
current span and whatever the retriever or tool calls nests under them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tripwire import semconv
from tripwire._core.arguments import as_int
from tripwire._core.documents import read_documents
from tripwire._core.instrumentor import OperationInstrumentor, Target
from tripwire._core.operations import (
    FunctionMapping,
    Operation,
    OperationMapping,
    OperationResult,
)
from tripwire.instrumentation.langchain.package import _instruments


def _input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("input")


# --- retrievers ----------------------------------------------------------------------------

def _retriever_name(retriever: Any) -> str:
    name = getattr(retriever, "name", None)
    return str(name) if name else type(retriever).__name__


def _retriever_top_k(retriever: Any) -> int | None:
    search_kwargs = getattr(retriever, "search_kwargs", None)
    if isinstance(search_kwargs, Mapping) and "k" in search_kwargs:
        return as_int(search_kwargs["k"])
    return as_int(getattr(retriever, "k", None))


@FunctionMapping
def _retriever_mapping(fn: Callable[..., Any]) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        query = _input(args, kwargs)
        return Operation(
            operation=semconv.OP_RETRIEVAL,
            name=_retriever_name(instance),
            top_k=_retriever_top_k(instance),
            query_text=(lambda: query) if isinstance(query, str) else None,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        hits, kind = read_documents(result)
        op.score_kind = kind
        return OperationResult(hits=[hits])

    return OperationMapping(build=build, parse_result=parse)


# --- tools ---------------------------------------------------------------------------------

def _is_tool_call(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_call"


@FunctionMapping
def _tool_mapping(fn: Callable[..., Any]) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        value = _input(args, kwargs)
        call_id = None
        if _is_tool_call(value):
            call_id = value.get("id")
            value = value.get("args")
        description = getattr(instance, "description", None)
        return Operation(
            operation=semconv.OP_EXECUTE_TOOL,
            name=str(getattr(instance, "name", None) or type(instance).__name__),
            tool_type=semconv.TOOL_TYPE_FUNCTION,
            tool_call_id=str(call_id) if call_id else None,
            description=description if isinstance(description, str) and description else None,
            arguments=value,
            has_arguments=value is not None,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        error = (semconv.TOOL_ERROR_EXECUTION
                 if getattr(result, "status", None) == "error" else None)
        return OperationResult(output=lambda: _tool_output(result), error_type=error)

    return OperationMapping(build=build, parse_result=parse)


def _tool_output(result: Any) -> Any:
    # A ToolMessage (input was a ToolCall): its content is the tool's output.
    if type(result).__name__ == "ToolMessage":
        return getattr(result, "content", None)
    return result


_TARGETS: tuple[Target, ...] = (
    ("langchain_core.retrievers", "BaseRetriever", "invoke", _retriever_mapping),
    ("langchain_core.retrievers", "BaseRetriever", "ainvoke", _retriever_mapping),
    ("langchain_core.tools.base", "BaseTool", "invoke", _tool_mapping),
    ("langchain_core.tools.base", "BaseTool", "ainvoke", _tool_mapping),
    ("langchain_core.tools.simple", "Tool", "invoke", _tool_mapping),
    ("langchain_core.tools.simple", "Tool", "ainvoke", _tool_mapping),
    ("langchain_core.tools.structured", "StructuredTool", "invoke", _tool_mapping),
    ("langchain_core.tools.structured", "StructuredTool", "ainvoke", _tool_mapping),
)


class LangChainInstrumentor(OperationInstrumentor):
    """Retrieval and tool spans for every LangChain retriever and tool."""

    instruments = _instruments
    targets = _TARGETS


__all__ = ["LangChainInstrumentor"]
