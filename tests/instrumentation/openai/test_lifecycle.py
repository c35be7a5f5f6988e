"""Content capture, secrets, suppression, (un)instrumenting, fault injection, budget gate."""

from __future__ import annotations

import json
import logging

import openai
import pytest
import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation

from tripwire import BudgetExceededError
from tripwire import semconv as sc
from tripwire._core import invocation
from tripwire._core.invocation import LLMCall
from tripwire._core.precall import register_precall_check, unregister_precall_check
from tripwire.instrumentation.openai import OpenAIInstrumentor, chat
from tripwire.settings import replace_settings
from tripwire.testing import chat_reply, server_error

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


def test_suppress_instrumentation(env) -> None:
    with suppress_instrumentation():
        env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert env.spans() == ()
    assert len(env.server.requests) == 1


def test_instrument_twice_is_noop(env) -> None:
    OpenAIInstrumentor().instrument(tracer_provider=env.tracer_provider)  # singleton: no-op
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert len(env.spans()) == 1


def test_uninstrument_restores_sdk(env) -> None:
    from openai.resources.chat.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import Embeddings
    from openai.resources.responses import Responses

    targets = ((Completions, "create"), (AsyncCompletions, "create"), (Responses, "create"),
               (Embeddings, "create"), (Completions, "parse"))
    for owner, name in targets:  # wrapped now, so the check below can fail
        assert isinstance(owner.__dict__[name], wrapt.FunctionWrapper), (owner, name)
    env.instrumentor.uninstrument()
    for owner, name in targets:
        assert not isinstance(owner.__dict__[name], wrapt.FunctionWrapper), (owner, name)
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert env.spans() == ()
    env.instrumentor.instrument(tracer_provider=env.tracer_provider)


# --- fault injection: every telemetry step raises in turn ------------------------------

def _boom(*args, **kwargs):
    raise RuntimeError("injected telemetry failure")


FAULTS = [
    (chat, "start_attributes"),                          # request mapping
    (LLMCall, "__init__"),                               # span start
    (LLMCall, "_record_request_extras"),                 # prompt hash / content
    (chat, "usage_numbers"),                             # response mapping
    (LLMCall, "_record_result"),                         # response attributes
    (LLMCall, "_record_metrics"),                        # metrics
    (invocation, "count_tokens"),                        # token estimation
    (chat.ChatStreamAccumulator, "add"),                 # per-chunk folding
    (chat.ChatStreamAccumulator, "result"),              # stream summary
    (invocation, "check_tool_calls"),                    # tool-call checks
]


@pytest.mark.parametrize(("owner", "name"), FAULTS, ids=[f"{o.__name__}.{n}" for o, n in FAULTS])
def test_each_telemetry_step_failing_leaves_the_call_intact(env, monkeypatch, caplog, owner,
                                                            name) -> None:
    monkeypatch.setattr(owner, name, _boom)
    client = env.client()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with caplog.at_level(logging.WARNING, logger="tripwire"):
        env.server.enqueue(chat_reply("plain", tool_calls=[("c1", "f", "{}")]))
        result = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=tools)
        assert result.choices[0].message.tool_calls[0].function.name == "f"
        env.server.enqueue(chat_reply("streamed answer"))
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=ASK, stream=True) if c.choices)
        assert text == "streamed answer"
        env.server.enqueue(server_error(400))
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    spans = env.spans()
    expected = 0 if name in ("__init__", "start_attributes") else 3
    assert len(spans) == expected
    failures = [r for r in caplog.records if "telemetry step" in r.getMessage()]
    assert len(failures) >= 1
    assert len({r.getMessage() for r in failures}) == len(failures)  # each step logged once


def test_budget_gate_blocks_before_sending(env) -> None:
    def gate(info):
        assert info.operation == "chat" and info.request_model == "gpt-4o-mini"
        raise BudgetExceededError("agent-run", limit=1.0, spent=1.2)

    register_precall_check(gate)
    try:
        with pytest.raises(BudgetExceededError):
            env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    finally:
        unregister_precall_check(gate)
    assert env.server.requests == []
    assert env.spans() == ()


def test_broken_precall_check_is_ignored(env) -> None:
    register_precall_check(_boom)
    try:
        env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    finally:
        unregister_precall_check(_boom)
    assert len(env.spans()) == 1


def test_second_construction_does_not_forget_what_was_wrapped(env) -> None:
    from openai.resources.chat.completions import Completions

    assert isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    OpenAIInstrumentor()  # BaseInstrumentor is a singleton: __init__ runs again
    env.instrumentor.uninstrument()
    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    env.instrumentor.instrument(tracer_provider=env.tracer_provider)
