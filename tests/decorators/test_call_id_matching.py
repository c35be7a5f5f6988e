"""The model's tool call ids (``tripwire.tool_call.ids`` on the chat span) match the
``gen_ai.tool.call.id`` of the ``execute_tool`` spans that ran them, in one trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tripwire import decorators, semconv
from tripwire.decorators import tool
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing.fixtures import find_span, spans_by_name
from tripwire.testing.openai_server import chat_reply


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@pytest.fixture
def instrumented(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    decorators.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield
    inst.uninstrument()


def test_decorator_and_langchain_tool_ids_match_the_chat_span(
        instrumented: None, fake_openai: Any, tracer_provider: Any, span_exporter: Any) -> None:
    lc_tools = pytest.importorskip("langchain_core.tools")
    from tripwire.instrumentation.langchain import LangChainInstrumentor

    @lc_tools.tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    lc = LangChainInstrumentor()
    lc.instrument(tracer_provider=tracer_provider)
    fake_openai.enqueue(chat_reply(tool_calls=[
        ("call_order", "lookup_order", '{"order_id": "1234"}'),
        ("call_weather", "get_weather", '{"city": "Oslo"}'),
    ]))
    client = fake_openai.client()
    try:
        with tracer_provider.get_tracer("app").start_as_current_span("turn"):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "order and weather"}])
            for call in reply.choices[0].message.tool_calls:
                args = json.loads(call.function.arguments)
                if call.function.name == "lookup_order":
                    lookup_order(**args, tool_call_id=call.id)
                else:
                    get_weather.invoke({"type": "tool_call", "id": call.id,
                                        "name": call.function.name, "args": args})
    finally:
        lc.uninstrument()
    chat = find_span(span_exporter, "chat gpt-4o-mini")
    requested = list(chat.attributes[semconv.TRIPWIRE_TOOL_CALL_IDS])
    executed = [s.attributes[semconv.GEN_AI_TOOL_CALL_ID]
                for name, spans in spans_by_name(span_exporter).items()
                if name.startswith(semconv.OP_EXECUTE_TOOL) for s in spans]
    assert requested == ["call_order", "call_weather"]
    assert sorted(executed) == sorted(requested)
    trace_ids = {s.context.trace_id for s in span_exporter.get_finished_spans()}
    assert len(trace_ids) == 1
