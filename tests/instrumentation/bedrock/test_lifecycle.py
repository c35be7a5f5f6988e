"""Content capture, credentials, other services and operations, suppression, budget gate,
(un)instrumenting."""

from __future__ import annotations

import json

import pytest

from tripwire import BudgetExceededError
from tripwire import semconv as sc
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing.bedrock_server import (
    bedrock_converse,
    bedrock_invoke_anthropic,
    bedrock_text,
    bedrock_tool_use,
)

from ..telemetry_env import all_values
from .conftest import HAIKU, SECRETS

CONVERSATION = [
    {"role": "user", "content": [{"text": "Weather in Paris? Mail jane@example.com"}]},
    {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "tu_0", "name": "get_weather", "input": {"city": "Paris"}}}]},
    {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tu_0", "content": [{"text": "18C"}], "status": "success"}},
        {"image": {"format": "png", "source": {"bytes": b"\x89PNG-secret-pixels"}}}]},
]
SYSTEM = [{"text": "You are terse."}, {"cachePoint": {"type": "default"}}]
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather of a city",
                                 "inputSchema": {"json": {"type": "object"}}}}]}


def _converse(env, **kwargs):
    return env.client().converse(modelId=HAIKU, messages=CONVERSATION, system=SYSTEM,
                                 toolConfig=TOOLS, **kwargs)


def test_content_off_by_default(env) -> None:
    env.server.enqueue(bedrock_converse("a secret answer"))
    _converse(env)
    span = env.span()
    text = all_values(span)
    assert "jane@example.com" not in text and "secret answer" not in text
    assert "You are terse." not in text
    for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_TOOL_DEFINITIONS):
        assert key not in span.attributes
    assert span.events == ()
    assert span.attributes[sc.TRIPWIRE_PROMPT_HASH]  # the hash needs no content capture


def test_content_on_span(env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(bedrock_converse([
        bedrock_text("Checking."),
        bedrock_tool_use("get_weather", {"city": "Lyon"}, tool_use_id="tu_1")]))
    _converse(env)
    a = env.span().attributes
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text",
                                    "content": "Weather in Paris? Mail jane@example.com"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "get_weather",
                                         "id": "tu_0", "arguments": {"city": "Paris"}}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "response": "18C",
                                    "id": "tu_0"}, {"type": "image"}]},
    ]
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are terse."}]
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "get_weather", "description": "Weather of a city",
         "parameters": {"type": "object"}}]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "text", "content": "Checking."},
            {"type": "tool_call", "name": "get_weather", "id": "tu_1",
             "arguments": {"city": "Lyon"}}]}]
    assert "secret-pixels" not in all_values(env.span())  # media bytes never captured


def test_content_on_events_with_redaction(env) -> None:
    replace_settings(capture_content=ContentCapture.EVENT_ONLY, content_redaction=("email",))
    _converse(env)
    span = env.span()
    assert sc.GEN_AI_INPUT_MESSAGES not in span.attributes
    events = [e for e in span.events if e.name == sc.EVENT_GEN_AI_CLIENT_INFERENCE_DETAILS]
    assert len(events) == 2  # the request's content, then the response's
    assert "[REDACTED:email]" in events[0].attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert "jane@example.com" not in all_values(span)


def test_streamed_content(env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(bedrock_converse([
        bedrock_text("streamed words here"),
        bedrock_tool_use("get_weather", {"city": "Oslo"}, tool_use_id="tu_9")]))
    list(env.client().converse_stream(modelId=HAIKU, messages=CONVERSATION[:1])["stream"])
    outputs = json.loads(env.span().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "text", "content": "streamed words here"},
        {"type": "tool_call", "name": "get_weather", "id": "tu_9",
         "arguments": {"city": "Oslo"}}]}]


def test_invoke_model_content(env) -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    env.server.enqueue(bedrock_invoke_anthropic("Bonjour."))
    env.client().invoke_model(modelId=HAIKU, body=json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "system": "Be French.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}))
    a = env.span().attributes
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Be French."}]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "stop",  # the message schema's value
         "parts": [{"type": "text", "content": "Bonjour."}]}]


@pytest.mark.parametrize("mode", list(ContentCapture))
def test_credentials_never_recorded(env, mode: ContentCapture) -> None:
    replace_settings(capture_content=mode)
    client = env.client()
    client.converse(modelId=HAIKU, messages=CONVERSATION, system=SYSTEM)
    list(client.converse_stream(modelId=HAIKU, messages=CONVERSATION)["stream"])
    client.invoke_model(modelId=HAIKU, body=json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}))
    # the requests did carry them (SigV4 header, session token)…
    headers = env.server.last_request.headers
    auth = next(v for k, v in headers.items() if k.lower() == "authorization")
    assert "Credential=AKIATRIPWIRETESTKEY01" in auth
    assert any(v == SECRETS[2] for v in headers.values())
    # …and none of it reached a span, an event or a metric point
    spans = env.spans()
    assert len(spans) == 3
    for span in spans:
        text = all_values(span) + span.name
        for secret in SECRETS:
            assert secret not in text, (mode, secret)
    data = env.reader.get_metrics_data()
    metric_text = data.to_json() if data else ""
    for secret in SECRETS:
        assert secret not in metric_text


def test_other_services_untouched(env) -> None:
    import boto3
    from botocore.stub import Stubber

    for service, method, reply in (
        ("s3", "list_buckets", {"Buckets": []}),
        ("bedrock", "list_foundation_models", {"modelSummaries": []}),  # the control plane
    ):
        client = boto3.client(service, region_name="us-east-1", aws_access_key_id="a",
                              aws_secret_access_key="b")
        with Stubber(client) as stub:
            stub.add_response(method, reply)
            assert getattr(client, method)() == reply
    assert env.spans() == ()


def test_other_bedrock_runtime_operations_untouched(env) -> None:
    from botocore.stub import Stubber

    client = env.client()
    with Stubber(client) as stub:
        stub.add_response("list_async_invokes", {"asyncInvokeSummaries": []})
        assert client.list_async_invokes()["asyncInvokeSummaries"] == []
    assert env.spans() == ()


def test_stubbed_converse_is_recorded(env) -> None:
    # botocore's Stubber answers without the network: our span reads the stubbed reply
    from botocore.stub import Stubber

    client = env.client()
    with Stubber(client) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "stubbed"}]}},
            "stopReason": "end_turn", "metrics": {"latencyMs": 1},
            "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}})
        client.converse(modelId=HAIKU, messages=CONVERSATION[:1])
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert env.server.requests == []


def test_budget_gate_raises_before_sending(env, budget_gate) -> None:
    def check(info):
        assert info.provider == "aws.bedrock" and info.request_model == HAIKU
        raise BudgetExceededError("run", limit=1.0, spent=1.5)

    budget_gate(check)
    with pytest.raises(BudgetExceededError):
        env.client().converse(modelId=HAIKU, messages=CONVERSATION[:1])
    assert env.server.requests == []
