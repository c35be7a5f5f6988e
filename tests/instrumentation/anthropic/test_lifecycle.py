"""Content capture, secrets, suppression, (un)instrumenting, the SDK's own spans, fault
injection, budget gate."""

from __future__ import annotations

import json

import anthropic
import pytest
import wrapt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import BudgetExceededError
from tripwire import semconv as sc
from tripwire.instrumentation.anthropic import common
from tripwire.runtime import replace_settings, set_settings
from tripwire.settings import ContentCapture
from tripwire.testing.anthropic_server import (
    anthropic_message,
    anthropic_text,
    anthropic_thinking,
    anthropic_tool_use,
)

from ..telemetry_env import all_values, redacted_content_events
from .conftest import API_KEY, ARGS, MODEL

SYSTEM = [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}]
CONVERSATION = [
    {"role": "user", "content": "My email is jane@example.com. Weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Need the tool.", "signature": "sig"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "text", "text": "Sunny, 21C"}]},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgoAAAANSUhEUg=="}}]},
]
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object",
                                                  "properties": {"city": {"type": "string"}}}}]
REPLY = [anthropic_thinking("They want weather."), anthropic_text("Il fait beau."),
         anthropic_tool_use("get_weather", {"city": "Lyon"}, id="toolu_2")]


def _ask(client, **kwargs):
    return client.messages.create(model=MODEL, max_tokens=100, system=SYSTEM,
                                  messages=CONVERSATION, tools=TOOLS, **kwargs)


def test_content_off_by_default_and_key_never_recorded(env, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    set_settings(None)
    env.server.enqueue(anthropic_message(REPLY))
    _ask(env.client())
    span = env.span()
    text = all_values(span)
    for secret in ("jane@example.com", "Il fait beau", "Sunny", "terse", "Lyon", API_KEY):
        assert secret not in text
    assert not [k for k in span.attributes if k.startswith(("gen_ai.input", "gen_ai.output.",
                                                             "gen_ai.system_instructions",
                                                             "gen_ai.tool.definitions"))]
    assert span.events == ()
    # the key was sent (the call is intact), just never recorded
    sent = env.server.last_request.headers
    assert API_KEY in (sent.get("x-api-key") or sent.get("authorization") or "")


def test_content_on_span(env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(anthropic_message(REPLY))
    _ask(env.client())
    a = env.span().attributes
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are terse."},
        {"type": "text", "content": "Answer in French."}]
    inputs = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs[0] == {"role": "user", "parts": [
        {"type": "text", "content": "My email is jane@example.com. Weather in Paris?"}]}
    assert inputs[1] == {"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Need the tool."},
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "name": "get_weather", "id": "toolu_1",
         "arguments": {"city": "Paris"}}]}
    assert inputs[2] == {"role": "user", "parts": [
        {"type": "tool_call_response", "response": "Sunny, 21C", "id": "toolu_1"},
        {"type": "image"}]}  # the image's type only, never its data
    outputs = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "They want weather."},
        {"type": "text", "content": "Il fait beau."},
        {"type": "tool_call", "name": "get_weather", "id": "toolu_2",
         "arguments": {"city": "Lyon"}}]}]
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS])[0]["name"] == "get_weather"
    assert API_KEY not in all_values(env.span()) and "Bearer" not in all_values(env.span())


def test_tool_definitions_follow_the_tool_definition_schema(env) -> None:
    # custom tools become functions (input_schema -> parameters); server tools keep their type
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.client().messages.create(**ARGS, tools=[
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}])
    assert json.loads(env.span().attributes[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "get_weather", "description": "Weather for a city",
         "parameters": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"}]


def test_content_given_as_a_one_shot_iterable_reaches_the_api(env) -> None:
    # describing the message must not consume what the SDK is about to send
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    blocks = (b for b in [{"type": "text", "text": "Hello there"}])
    env.client().messages.create(model=MODEL, max_tokens=10,
                                 messages=[{"role": "user", "content": blocks}])
    sent = env.server.last_request.json["messages"]
    assert sent == [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]
    assert json.loads(env.span().attributes[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": []}]


def test_streamed_content_on_span(env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(anthropic_message(REPLY))
    for _ in _ask(env.client(), stream=True):
        pass
    outputs = json.loads(env.span().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "They want weather."},
        {"type": "text", "content": "Il fait beau."},
        {"type": "tool_call", "name": "get_weather", "id": "toolu_2",
         "arguments": {"city": "Lyon"}}]}]


def test_content_on_events_with_redaction(env) -> None:
    replace_settings(capture_content=ContentCapture.EVENT_ONLY, content_redaction=("email",))
    env.server.enqueue(anthropic_message(REPLY))
    _ask(env.client())
    span = env.span()
    events = redacted_content_events(span)
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS in events[0].attributes
    assert sc.GEN_AI_OUTPUT_MESSAGES in events[1].attributes


@pytest.mark.parametrize(("value", "on_span"), [("SPAN_ONLY", True), ("true", True),
                                                 ("NO_CONTENT", False), ("false", False)])
def test_capture_from_the_environment(env, monkeypatch, value, on_span) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    set_settings(None)  # re-read the environment
    env.client().messages.create(**ARGS, system="Be brief.")
    a = env.span().attributes
    assert (sc.GEN_AI_INPUT_MESSAGES in a) is on_span
    assert (sc.GEN_AI_SYSTEM_INSTRUCTIONS in a) is on_span


def test_uninstrument_gives_the_sdk_its_tracer_property_back(env) -> None:
    # the rest of uninstrument()'s symmetry: tests/contract/test_lifecycle.py
    from anthropic._base_client import BaseClient

    assert isinstance(BaseClient.__dict__["_tracer"], wrapt.BaseObjectProxy)
    env.instrumentor.uninstrument()
    try:
        assert isinstance(BaseClient.__dict__["_tracer"], property)
    finally:
        env.instrumentor.instrument(tracer_provider=env.tracer_provider)


# --- the SDK's own call spans (anthropic >= 2) -----------------------------------------------

def _sdk_traced_client(env):
    sdk_exporter = InMemorySpanExporter()
    sdk_provider = TracerProvider()
    sdk_provider.add_span_processor(SimpleSpanProcessor(sdk_exporter))
    client = env.client(open_telemetry={"tracer_provider": sdk_provider})
    return client, sdk_exporter


def test_sdk_own_span_is_not_a_second_llm_span(env) -> None:
    client, sdk_exporter = _sdk_traced_client(env)
    client.messages.create(**ARGS)
    with client.messages.stream(**ARGS) as stream:
        stream.until_done()
    assert sdk_exporter.get_finished_spans() == ()  # one GenAI span per call: ours
    spans = env.spans()
    assert len(spans) == 2
    # the SDK still propagates the trace: the request carries our span as the parent
    for span, request in zip(spans, env.server.requests, strict=True):
        ctx = span.get_span_context()
        assert request.headers["traceparent"] == (
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}")


async def test_sdk_own_span_is_not_a_second_llm_span_async(env) -> None:
    sdk_exporter = InMemorySpanExporter()
    sdk_provider = TracerProvider()
    sdk_provider.add_span_processor(SimpleSpanProcessor(sdk_exporter))
    client = env.async_client(open_telemetry={"tracer_provider": sdk_provider})
    await client.messages.create(**ARGS)
    async for _ in await client.messages.create(**ARGS, stream=True):
        pass
    async with client.messages.stream(**ARGS) as stream:
        await stream.until_done()
    assert sdk_exporter.get_finished_spans() == ()
    assert len(env.spans()) == 3


def test_sdk_spans_of_other_endpoints_are_kept(env) -> None:
    from tripwire.testing._http import json_reply

    client, sdk_exporter = _sdk_traced_client(env)
    env.server.enqueue(lambda request: json_reply({"input_tokens": 3}))
    client.messages.count_tokens(model=MODEL, messages=ARGS["messages"])
    (sdk_span,) = sdk_exporter.get_finished_spans()
    assert sdk_span.name == "anthropic.messages.count_tokens"
    assert env.spans() == ()


def test_sdk_spans_come_back_after_uninstrument(env) -> None:
    client, sdk_exporter = _sdk_traced_client(env)
    env.instrumentor.uninstrument()
    try:
        client.messages.create(**ARGS)
        assert len(sdk_exporter.get_finished_spans()) == 1
        assert env.spans() == ()
    finally:
        env.instrumentor.instrument(tracer_provider=env.tracer_provider)


def test_sdk_spans_disabled_stay_disabled(env) -> None:
    client = env.client(open_telemetry=False)
    client.messages.create(**ARGS)
    assert len(env.spans()) == 1
    assert "traceparent" not in env.server.last_request.headers


# --- platform clients --------------------------------------------------------------------

def test_provider_of_platform_clients() -> None:
    class AnthropicVertex:  # stands for the SDK's class of that name (older SDKs)
        pass

    class Declared:  # a client class that names its own provider (anthropic >= 2)
        _gen_ai_provider_name = "azure.ai.inference"

    class AnthropicBedrock:  # declares an empty name: our class-name table decides
        _gen_ai_provider_name = ""

    assert common.provider_for(anthropic.Anthropic(api_key="k")) == "anthropic"
    assert common.provider_for(AnthropicVertex()) == "gcp.vertex_ai"
    assert common.provider_for(Declared()) == "azure.ai.inference"  # the SDK's name wins
    assert common.provider_for(AnthropicBedrock()) == "aws.bedrock"
    assert common.provider_for(object()) == "anthropic"  # unknown clients: the default


def test_provider_of_real_sdk_platform_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's clients name their provider themselves (anthropic >= 2): what we decide is
    # checked by changing that name, so that a provider_for ignoring it, or losing our own
    # table when the name is gone, fails.
    bedrock = pytest.importorskip("anthropic.lib.bedrock",
                                  reason="this anthropic SDK has no Bedrock client")
    client = bedrock.AnthropicBedrock(aws_region="us-east-1", aws_access_key="a",
                                      aws_secret_key="b")
    monkeypatch.setattr(type(client), "_gen_ai_provider_name", "x.declared", raising=False)
    assert common.provider_for(client) == "x.declared"  # the SDK's declared name wins
    monkeypatch.setattr(type(client), "_gen_ai_provider_name", "", raising=False)
    assert common.provider_for(client) == "aws.bedrock"  # none declared: our table
    monkeypatch.setattr(type(client), "_gen_ai_provider_name", None, raising=False)
    assert common.provider_for(client) == "aws.bedrock"  # older SDKs: our table
    plain = anthropic.Anthropic(api_key="k")
    monkeypatch.setattr(type(plain), "_gen_ai_provider_name", "", raising=False)
    assert common.provider_for(plain) == "anthropic"  # the default


def test_budget_gate_blocks_before_sending(env, budget_gate) -> None:
    def gate(info):
        assert info.operation == "chat" and info.request_model == MODEL
        assert info.provider == "anthropic"
        raise BudgetExceededError("agent-run", limit=1.0, spent=1.2)

    budget_gate(gate)
    with pytest.raises(BudgetExceededError):
        env.client().messages.create(**ARGS)
    with pytest.raises(BudgetExceededError), env.client().messages.stream(**ARGS):
        pass
    assert env.server.requests == []
    assert env.spans() == ()
