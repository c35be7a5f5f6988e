"""Refusals, tool-call checks, retries, provider names, Responses and embeddings."""

from __future__ import annotations

import pytest

from tripwire import semconv as sc
from tripwire.instrumentation.openai.common import provider_for
from tripwire.testing import (
    chat_reply,
    embeddings_reply,
    rate_limited,
    responses_reply,
    server_error,
)

WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": False}}}]
ASK = [{"role": "user", "content": "weather?"}]


def test_refusal_field(env) -> None:
    env.server.enqueue(chat_reply(refusal="I can't help with that."))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"


def test_content_filter_finish_reason(env) -> None:
    env.server.enqueue(chat_reply(finish_reason="content_filter"))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "content_filter"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("content_filter",)


def test_streamed_refusal(env) -> None:
    env.server.enqueue(chat_reply(refusal="No."))
    for _ in env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True):
        pass
    assert env.span().attributes[sc.TRIPWIRE_REFUSAL] is True


def test_no_refusal_flag_on_normal_answers(env) -> None:
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert sc.TRIPWIRE_REFUSAL not in env.span().attributes


def test_tool_calls_unknown_and_invalid(env) -> None:
    env.server.enqueue(chat_reply(tool_calls=[
        ("call_1", "get_weather", '{"city": "Paris"}'),
        ("call_2", "get_weather", '{"town": "Paris"}'),   # breaks the schema
        ("call_3", "get_weather", '{"city": "Par'),        # not JSON
        ("call_4", "delete_account", "{}"),                # never declared
    ]))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=WEATHER)
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",) * 3 + ("delete_account",)
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("call_1", "call_2", "call_3", "call_4")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("delete_account",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather", "get_weather")
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_valid_tool_call_has_no_flags(env) -> None:
    env.server.enqueue(chat_reply(tool_calls=[("call_1", "get_weather", '{"city": "Rome"}')]))
    env.client().chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=WEATHER)
    a = env.span().attributes
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in a
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a


def test_retry_429_then_200(env) -> None:
    env.server.enqueue(rate_limited(retry_after_ms=1), chat_reply("finally", usage=(3, 1)))
    result = env.client(max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert result.choices[0].message.content == "finally"
    assert len(env.server.requests) == 2
    span = env.span()
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 1
    (event,) = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert event.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 429
    assert event.attributes[sc.TRIPWIRE_RETRY_ATTEMPT] == 1
    assert span.status.status_code.name == "UNSET"
    (point,) = env.points(sc.METRIC_RETRIES)
    assert point.value == 1
    assert point.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 429
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"


def test_retries_exhausted(env) -> None:
    import openai

    env.server.enqueue(server_error(503, retry_after_ms=1), server_error(502, retry_after_ms=1),
                       server_error(500, retry_after_ms=1))
    with pytest.raises(openai.InternalServerError):
        env.client(max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=ASK)
    span = env.span()
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 2
    codes = [e.attributes[sc.HTTP_RESPONSE_STATUS_CODE] for e in span.events
             if e.name == sc.EVENT_RETRY]
    assert codes == [503, 502]
    assert span.attributes[sc.ERROR_TYPE] == "InternalServerError"


def test_connection_error_retry_event(env) -> None:
    import openai

    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=1,
                           timeout=0.5)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    span = env.span()
    (event,) = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert sc.HTTP_RESPONSE_STATUS_CODE not in event.attributes
    assert event.attributes[sc.ERROR_TYPE]
    assert span.attributes[sc.ERROR_TYPE] == "APIConnectionError"


async def test_async_retry(env) -> None:
    env.server.enqueue(rate_limited(retry_after_ms=1), chat_reply("ok"))
    await env.async_client(max_retries=1).chat.completions.create(model="gpt-4o-mini", messages=ASK)
    assert env.span().attributes[sc.TRIPWIRE_RETRY_COUNT] == 1


@pytest.mark.parametrize(("host", "provider"), [
    ("api.openai.com", "openai"), ("api.groq.com", "groq"), ("api.deepseek.com", "deepseek"),
    ("myres.openai.azure.com", "azure.ai.openai"), ("api.x.ai", "x_ai"),
    ("api.mistral.ai", "mistral_ai"), ("localhost", "openai"), (None, "openai"),
])
def test_provider_from_host(host, provider) -> None:
    assert provider_for(object(), host) == provider


def test_azure_client_provider(env) -> None:
    import openai

    client = openai.AzureOpenAI(azure_endpoint=env.server.url, api_key="k",
                                api_version="2024-10-21", max_retries=0)
    client.chat.completions.create(model="my-deployment", messages=ASK)
    span = env.span()
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == "my-deployment"


def test_responses_create(env) -> None:
    env.server.enqueue(responses_reply("Done.", usage=(20, 4, 10, 2)))
    result = env.client().responses.create(
        model="gpt-4o-mini", input="hi", instructions="Be terse.", max_output_tokens=30,
        temperature=0.1)
    assert result.output_text == "Done."
    span = env.span()
    a = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 30
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 10
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16


def test_responses_refusal_tools_and_incomplete(env) -> None:
    env.server.enqueue(responses_reply(refusal="Not allowed."))
    env.client().responses.create(model="gpt-4o-mini", input="x")
    assert env.span().attributes[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    env.exporter.clear()
    env.server.enqueue(responses_reply(tool_calls=[("fc_1", "nope", "{}")]))
    env.client().responses.create(model="gpt-4o-mini", input="x", tools=[
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("nope",)
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    env.exporter.clear()
    env.server.enqueue(responses_reply("cut", status="incomplete"))
    env.client().responses.create(model="gpt-4o-mini", input="x")
    assert env.span().attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)


async def test_async_responses(env) -> None:
    env.server.enqueue(responses_reply("async", usage=(3, 1)))
    await env.async_client().responses.create(model="gpt-4o-mini", input="hi")
    assert env.span().attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_embeddings(env) -> None:
    env.server.enqueue(embeddings_reply(usage=6))
    result = env.client().embeddings.create(model="text-embedding-3-small", input="hello world",
                                            dimensions=8, encoding_format="float")
    assert len(result.data[0].embedding) == 8
    span = env.span()
    a = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert a[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert a[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    assert a[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 6
    (point,) = env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)
    assert point.attributes[sc.GEN_AI_TOKEN_TYPE] == "input" and point.sum == 6


async def test_async_embeddings(env) -> None:
    await env.async_client().embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    a = env.span().attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert sc.GEN_AI_REQUEST_ENCODING_FORMATS not in a  # the SDK's own default is not "sent"
