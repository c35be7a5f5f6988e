"""OpenTelemetry instrumentation for the ``mcp`` client (1.x and 2.x): one
``execute_tool {tool name}`` span (``gen_ai.tool.type = extension``) per tool call.

Usage::

    from tripwire.instrumentation.mcp import MCPInstrumentor
    MCPInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Wraps ``ClientSession.call_tool`` (mcp 1.x and 2.x) and, on mcp 2.x, the high-level
``Client.call_tool``, which may send several ``tools/call`` rounds for one call (input-required
rounds, a re-list after a header mismatch): the outer call gets the span, the rounds inside it
are not recorded again. A result with ``isError`` sets ``error.type`` (the exception-free way
MCP servers report a failed tool); protocol errors raise and are recorded as exceptions.

MCP has no tool call id of its own: run the call inside
``tripwire.tool_call_context(call.id)`` to link it to the model's tool call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire import semconv
from tripwire._core.arguments import bind_arguments
from tripwire._core.instrumentor import OperationInstrumentor, Target
from tripwire._core.operations import (
    FunctionMapping,
    Operation,
    OperationMapping,
    OperationResult,
)
from tripwire.instrumentation.mcp.package import _instruments


def _is_error(result: Any) -> bool:
    # mcp 2.x names the field is_error, mcp 1.x isError (both alias "isError" on the wire).
    for attr in ("is_error", "isError"):
        value = getattr(result, attr, None)
        if value is not None:
            return bool(value)
    return False


def _output(result: Any) -> Any:
    structured = getattr(result, "structured_content", None)
    if structured is None:
        structured = getattr(result, "structuredContent", None)
    if structured is not None:
        return structured
    parts = getattr(result, "content", None)
    if parts is None:
        return None
    out: list[Any] = []
    for part in parts:
        dump = getattr(part, "model_dump", None)
        out.append(dump(mode="json", by_alias=True, exclude_none=True) if dump else part)
    return out


@FunctionMapping
def _call_tool_mapping(fn: Callable[..., Any]) -> OperationMapping:
    def build(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation:
        params = bind_arguments(fn, args, kwargs, method=True)
        arguments = params.get("arguments")
        return Operation(
            operation=semconv.OP_EXECUTE_TOOL,
            name=str(params.get("name") or ""),
            tool_type=semconv.TOOL_TYPE_EXTENSION,
            arguments=arguments if arguments is not None else {},
            has_arguments=True,
        )

    def parse(result: Any, op: Operation) -> OperationResult:
        if not hasattr(result, "content"):
            # mcp 2.x InputRequiredResult (allow_input_required=True): not a finished call.
            return OperationResult()
        return OperationResult(
            output=lambda: _output(result),
            error_type=semconv.TOOL_ERROR_EXECUTION if _is_error(result) else None,
        )

    return OperationMapping(build=build, parse_result=parse)


_TARGETS: tuple[Target, ...] = (
    ("mcp.client.session", "ClientSession", "call_tool", _call_tool_mapping),
    ("mcp.client.client", "Client", "call_tool", _call_tool_mapping),
)


class MCPInstrumentor(OperationInstrumentor):
    """Tool spans for MCP client tool calls."""

    instruments = _instruments
    targets = _TARGETS


__all__ = ["MCPInstrumentor"]
