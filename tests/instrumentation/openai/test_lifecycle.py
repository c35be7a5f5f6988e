"""Content capture, secrets, suppression, (un)instrumenting, fault injection, budget gate."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import BudgetExceededError
from tripwire import runtime as runtime_module
from tripwire import semconv as sc
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import get_runtime, replace_settings
from tripwire.settings import BudgetMode
from tripwire.testing import chat_reply

from ..telemetry_env import all_values, redacted_content_events

ASK = [{"role": "system", "content": "You are terse."},
       {"role": "user", "content": "My email is jane@example.com"}]


def test_content_off_by_default_and_key_never_recorded(env) -> None:
    env.server.enqueue(chat_reply("secret answer"))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    span = env.span()
    text = all_values(span)
    assert "jane@example.com" not in text and "secret answer" not in text
    assert "sk-test-SECRET" not in text and "Bearer" not in text
    assert not any(k.startswith("gen_ai.input") or k.startswith("gen_ai.output.messages")
                   for k in span.attributes)


def test_content_on_span(env) -> None:
    replace_settings(capture_content=sc_mode("SPAN_ONLY"))
    env.server.enqueue(chat_reply(tool_calls=[("call_1", "get_weather", '{"city": "Oslo"}')]))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=[
        {"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    a = env.span().attributes
    inputs = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]}
    assert inputs[1]["parts"][0]["content"] == "My email is jane@example.com"
    outputs = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "name": "get_weather", "id": "call_1", "arguments": {"city": "Oslo"}}]}]
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS])[0]["function"]["name"] == "get_weather"
    assert "sk-test-SECRET" not in all_values(env.span())


def test_content_on_event_with_redaction(env) -> None:
    replace_settings(capture_content=sc_mode("EVENT_ONLY"), content_redaction=("email",))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    span = env.span()
    redacted_content_events(span)


def test_streamed_content_captured(env) -> None:
    replace_settings(capture_content=sc_mode("SPAN_ONLY"))
    env.server.enqueue(chat_reply("streamed words here"))
    for _ in env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True):
        pass
    outputs = json.loads(env.span().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs[0]["parts"][0]["content"] == "streamed words here"


def sc_mode(name: str):
    from tripwire.settings import ContentCapture

    return ContentCapture(name)


def _boom(*args, **kwargs):
    raise RuntimeError("injected telemetry failure")


def test_budget_gate_blocks_before_sending(env, budget_gate) -> None:
    def gate(info):
        assert info.operation == "chat" and info.request_model == "gpt-4o-mini"
        raise BudgetExceededError("agent-run", limit=1.0, spent=1.2)

    budget_gate(gate)
    with pytest.raises(BudgetExceededError):
        env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert env.server.requests == []
    assert env.spans() == ()


def test_broken_budget_gate_is_ignored(env, monkeypatch) -> None:
    """The runtime's gate failing (a tripwire bug) never stops the call."""
    monkeypatch.setattr(runtime_module, "scopes_before_call", _boom)
    processor = EnrichingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()))
    replace_settings(budget_mode=BudgetMode.ENFORCE, budget_trace_usd=0.01)
    try:
        assert get_runtime().budget_gate_attached
        env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    finally:
        processor.shutdown()
    assert len(env.spans()) == 1
