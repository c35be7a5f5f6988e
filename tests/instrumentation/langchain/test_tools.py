"""LangChainInstrumentor on real langchain-core tools: names, call ids, hashes, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, Tool, ToolException
from langchain_core.tools import tool as lc_tool
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv
from tripwire._core.tools import arguments_hash
from tripwire.instrumentation.langchain import LangChainInstrumentor
from tripwire.testing.fixtures import find_span, spans_by_name

INSTRUMENTOR = LangChainInstrumentor  # installed by the ``instrumented`` fixture (../conftest.py)


@lc_tool
def get_weather(city: str, unit: str = "C") -> str:
    """Current weather for a city."""
    return f"18{unit} in {city}"


@lc_tool
async def lookup_order(order_id: str) -> dict[str, str]:
    """Order status by id."""
    return {"order_id": order_id, "status": "shipped"}


def _fail(city: str) -> str:
    raise ToolException("weather service down")


failing = StructuredTool.from_function(_fail, name="flaky_weather",
                                       description="Sometimes down.", handle_tool_error=True)


def _crash(city: str) -> str:
    raise RuntimeError("boom")


crashing = StructuredTool.from_function(_crash, name="crashing", description="Crashes.")


def test_dict_input(instrumented: Any, span_exporter: Any) -> None:
    assert get_weather.invoke({"city": "Paris"}) == "18C in Paris"
    span = find_span(span_exporter, "execute_tool get_weather")
    assert span.kind is SpanKind.INTERNAL
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == semconv.OP_EXECUTE_TOOL
    assert a[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert a[semconv.GEN_AI_TOOL_TYPE] == semconv.TOOL_TYPE_FUNCTION
    assert a[semconv.GEN_AI_TOOL_DESCRIPTION] == "Current weather for a city."
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"city": "Paris"})
    assert semconv.GEN_AI_TOOL_CALL_ID not in a
    # content is off by default
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in a
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in a


def test_tool_call_input_sets_call_id(instrumented: Any, span_exporter: Any) -> None:
    call = {"type": "tool_call", "id": "call_abc123", "name": "get_weather",
            "args": {"city": "Oslo", "unit": "F"}}
    message = get_weather.invoke(call)
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call_abc123"
    a = find_span(span_exporter, "execute_tool get_weather").attributes
    assert a[semconv.GEN_AI_TOOL_CALL_ID] == "call_abc123"
    assert a[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash({"unit": "F", "city": "Oslo"})


def test_content_capture(instrumented: Any, span_exporter: Any, capture: Any) -> None:
    get_weather.invoke({"type": "tool_call", "id": "c1", "name": "get_weather",
                        "args": {"city": "Rome"}})
    a = find_span(span_exporter, "execute_tool get_weather").attributes
    assert json.loads(a[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Rome"}
    assert a[semconv.GEN_AI_TOOL_CALL_RESULT] == "18C in Rome"


async def test_async_tool_and_single_span(instrumented: Any, span_exporter: Any) -> None:
    result = await lookup_order.ainvoke({"order_id": "o-1"})
    assert result == {"order_id": "o-1", "status": "shipped"}
    # a sync-only tool awaited: StructuredTool.ainvoke runs invoke in an executor — one span
    assert await get_weather.ainvoke({"city": "Lima"}) == "18C in Lima"
    spans = spans_by_name(span_exporter)
    assert len(spans["execute_tool lookup_order"]) == 1
    assert len(spans["execute_tool get_weather"]) == 1


async def test_simple_tool_async(instrumented: Any, span_exporter: Any) -> None:
    echo = Tool(name="echo", description="Echo.", func=lambda s: s)
    assert await echo.ainvoke("hi") == "hi"
    assert echo.invoke("ho") == "ho"
    spans = spans_by_name(span_exporter)["execute_tool echo"]
    assert len(spans) == 2
    assert spans[0].attributes[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] == arguments_hash("hi")


def test_handled_tool_error_sets_error_type(instrumented: Any, span_exporter: Any) -> None:
    message = failing.invoke({"type": "tool_call", "id": "c9", "name": "flaky_weather",
                              "args": {"city": "Paris"}})
    assert message.status == "error"
    span = find_span(span_exporter, "execute_tool flaky_weather")
    assert span.attributes[semconv.ERROR_TYPE] == semconv.TOOL_ERROR_EXECUTION
    assert span.status.status_code is StatusCode.ERROR


def test_raised_tool_error(instrumented: Any, span_exporter: Any) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        crashing.invoke({"city": "x"})
    span = find_span(span_exporter, "execute_tool crashing")
    assert span.attributes[semconv.ERROR_TYPE] == "RuntimeError"
    assert span.status.status_code is StatusCode.ERROR


def test_suppression_and_uninstrument(instrumented: Any, span_exporter: Any) -> None:
    with suppress_instrumentation():
        get_weather.invoke({"city": "Paris"})
    assert span_exporter.get_finished_spans() == ()
    instrumented.uninstrument()
    assert not hasattr(BaseTool.invoke, "__wrapped__")
    assert not hasattr(StructuredTool.ainvoke, "__wrapped__")
    get_weather.invoke({"city": "Paris"})
    assert span_exporter.get_finished_spans() == ()
    instrumented.instrument()
