"""MCPInstrumentor against a real in-process MCP server (mcp 2.x ``Client(server)``, or the
1.x memory-stream session helper when that is what is installed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

mcp = pytest.importorskip("mcp")

from opentelemetry.instrumentation.utils import suppress_instrumentation  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from tripwire import semconv  # noqa: E402
from tripwire._core.operations import tool_call_context  # noqa: E402
from tripwire._core.tools import arguments_hash  # noqa: E402
from tripwire.instrumentation.mcp import MCPInstrumentor  # noqa: E402
from tripwire.testing.fixtures import find_span, spans_by_name  # noqa: E402

INSTRUMENTOR = MCPInstrumentor  # installed by the ``instrumented`` fixture (../conftest.py)

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server

    MCP2 = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server

    MCP2 = False


def make_server() -> Any:
    server = _Server("weather")

    @server.tool()
    def forecast(city: str, days: int = 1) -> str:
        """Forecast for a city."""
        return f"sunny in {city} for {days} day(s)"

    @server.tool()
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("upstream timeout")

    return server


@asynccontextmanager
async def session() -> AsyncIterator[Any]:
    """A ClientSession connected to the in-process server."""
    server = make_server()
    if MCP2:
        from mcp import Client

        async with Client(server) as client:
            yield client.session
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        async with create_connected_server_and_client_session(server._mcp_server) as s:
            yield s


async def test_call_tool_span(instrumented: Any, span_exporter: Any) -> None:
    async with session() as s:
        result = await s.call_tool("forecast", {"city": "Paris", "days": 2})
    assert result.content[0].text == "sunny in Paris for 2 day(s)"
    span = find_span(span_exporter, "execute_tool forecast")
    assert span.kind is SpanKind.INTERNAL
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_EXECUTE_TOOL
    assert a[semconv.GEN_AI_TOOL_NAME] == "forecast"
    assert a[semconv.GEN_AI_TOOL_TYPE] == semconv.TOOL_TYPE_EXTENSION
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"days": 2, "city": "Paris"})
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in a
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in a
    assert semconv.ERROR_TYPE not in a


async def test_is_error_result(instrumented: Any, span_exporter: Any) -> None:
    async with session() as s:
        result = await s.call_tool("broken", {"city": "Paris"})
    assert getattr(result, "is_error", getattr(result, "isError", None)) is True
    span = find_span(span_exporter, "execute_tool broken")
    assert span.attributes[semconv.ERROR_TYPE] == semconv.TOOL_ERROR_EXECUTION
    assert span.status.status_code is StatusCode.ERROR


async def test_content_capture_and_call_id(instrumented: Any, span_exporter: Any,
                                           capture: Any) -> None:
    async with session() as s:
        with tool_call_context("call_mcp_1"):
            await s.call_tool("forecast", {"city": "Oslo"})
        await s.call_tool("forecast", {"city": "Rome"})  # outside: no call id
    first, second = spans_by_name(span_exporter)["execute_tool forecast"]
    assert first.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_mcp_1"
    assert semconv.GEN_AI_TOOL_CALL_ID not in second.attributes
    assert json.loads(first.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Oslo"}
    assert "sunny in Oslo" in first.attributes[semconv.GEN_AI_TOOL_CALL_RESULT]


@pytest.mark.skipif(not MCP2, reason="mcp 2.x high-level Client")
async def test_high_level_client_records_one_span(instrumented: Any, span_exporter: Any) -> None:
    from mcp import Client

    async with Client(make_server()) as client:
        await client.call_tool("forecast", {"city": "Lima"})
    spans = spans_by_name(span_exporter)["execute_tool forecast"]
    assert len(spans) == 1  # Client.call_tool -> ClientSession.call_tool is one call


async def test_suppression_and_uninstrument(instrumented: Any, span_exporter: Any) -> None:
    from mcp.client.session import ClientSession

    async with session() as s:
        with suppress_instrumentation():
            await s.call_tool("forecast", {"city": "Paris"})
        assert span_exporter.get_finished_spans() == ()
        instrumented.uninstrument()
        assert not hasattr(ClientSession.call_tool, "__wrapped__")
        await s.call_tool("forecast", {"city": "Paris"})
        assert span_exporter.get_finished_spans() == ()
    instrumented.instrument()
