"""Converse: request parameters, response, usage, tools, refusals, errors, retries, metrics."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv as sc
from tripwire.testing.bedrock_server import (
    BedrockUsage,
    bedrock_content_filtered,
    bedrock_converse,
    bedrock_error,
    bedrock_guardrail_intervened,
    bedrock_text,
    bedrock_throttled,
    bedrock_tool_use,
)

from .conftest import HAIKU

ASK = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
WEATHER_TOOL = {"toolSpec": {
    "name": "get_weather", "description": "Weather of a city",
    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]}}}}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's standard retry mode sleeps up to 1 s, 2 s… between attempts
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)


def test_converse_span(env) -> None:
    env.server.enqueue(bedrock_converse("Sunny.", usage=BedrockUsage(input_tokens=18,
                                                                     output_tokens=9)))
    response = env.client().converse(
        modelId=HAIKU, messages=ASK, system=[{"text": "You are terse."}],
        inferenceConfig={"maxTokens": 100, "temperature": 0.2, "topP": 0.9,
                         "stopSequences": ["END"]},
        additionalModelRequestFields={"top_k": 40})
    assert response["output"]["message"]["content"][0]["text"] == "Sunny."
    span = env.span()
    a = span.attributes
    assert span.name == f"chat {HAIKU}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert a[sc.GEN_AI_REQUEST_MODEL] == HAIKU
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert a[sc.SERVER_PORT] == env.server.port
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_TOP_K] == 40
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 18
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    request_id = response["ResponseMetadata"]["RequestId"]
    assert a[sc.AWS_REQUEST_ID] == request_id
    assert a[sc.GEN_AI_RESPONSE_ID] == request_id  # Converse has no completion id of its own
    assert sc.GEN_AI_RESPONSE_MODEL not in a  # Converse does not name the model back
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16
    assert sc.TRIPWIRE_REFUSAL not in a
    assert not any(k.startswith("tripwire.retry") for k in a)


def test_parameters_only_when_sent(env) -> None:
    env.client().converse(modelId=HAIKU, messages=ASK)
    a = env.span().attributes
    for key in (sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_TEMPERATURE,
                sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_TOP_K,
                sc.GEN_AI_REQUEST_STOP_SEQUENCES, sc.TRIPWIRE_PROMPT_HASH,
                sc.AWS_BEDROCK_GUARDRAIL_ID):
        assert key not in a, key


@pytest.mark.parametrize("model", [
    "us.anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.nova-lite-v1:0",
])
def test_model_ids_kept_as_sent(env, model: str) -> None:
    env.client().converse(modelId=model, messages=ASK)
    span = env.span()
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == model
    assert span.name == f"chat {model}"


def test_cache_tokens_are_added_to_input_tokens(env) -> None:
    # Bedrock's inputTokens exclude cache reads and writes; semconv's include them.
    env.server.enqueue(bedrock_converse("ok", usage=BedrockUsage(
        input_tokens=7, output_tokens=30, cache_read_input_tokens=100,
        cache_write_input_tokens=40)))
    env.client().converse(modelId=HAIKU, messages=ASK)
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 147
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 40
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 30


def test_metrics(env) -> None:
    env.server.enqueue(bedrock_converse("ok", usage=BedrockUsage(input_tokens=11,
                                                                 output_tokens=5)))
    env.client().converse(modelId=HAIKU, messages=ASK)
    [duration] = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "aws.bedrock",
        sc.GEN_AI_REQUEST_MODEL: HAIKU, sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: env.server.port}
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum
              for p in env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens == {"input": 11, "output": 5}
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK) == []  # not a stream


def test_tool_use(env) -> None:
    env.server.enqueue(bedrock_converse([
        bedrock_text("Let me check."),
        bedrock_tool_use("get_weather", {"city": "Paris"}, tool_use_id="tooluse_1"),
        bedrock_tool_use("get_time", {"city": "Paris"}, tool_use_id="tooluse_2"),
        bedrock_tool_use("get_weather", {"town": 3}, tool_use_id="tooluse_3"),
    ]))
    env.client().converse(modelId=HAIKU, messages=ASK, toolConfig={"tools": [WEATHER_TOOL]})
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "get_time", "get_weather")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("tooluse_1", "tooluse_2", "tooluse_3")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("get_time",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)  # against the schema


def test_guardrail_intervened_is_a_refusal(env) -> None:
    env.server.enqueue(bedrock_guardrail_intervened(filter_type="PROMPT_ATTACK"))
    env.client().converse(modelId=HAIKU, messages=ASK, guardrailConfig={
        "guardrailIdentifier": "gr-123", "guardrailVersion": "1", "trace": "enabled"})
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("guardrail_intervened",)
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "prompt_attack"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ID] == "gr-123"


def test_guardrail_without_trace(env) -> None:
    env.server.enqueue(bedrock_guardrail_intervened(trace=None))
    env.client().converse(modelId=HAIKU, messages=ASK)
    assert env.span().attributes[sc.TRIPWIRE_REFUSAL_CATEGORY] == "guardrail"


def test_content_filtered_is_a_refusal(env) -> None:
    env.server.enqueue(bedrock_content_filtered())
    env.client().converse(modelId=HAIKU, messages=ASK)
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "content_filtered"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("content_filtered",)


def test_max_tokens_is_not_a_refusal(env) -> None:
    env.server.enqueue(bedrock_converse("cut", stop_reason="max_tokens"))
    env.client().converse(modelId=HAIKU, messages=ASK)
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert sc.TRIPWIRE_REFUSAL not in a


def test_client_error(env) -> None:
    env.server.enqueue(bedrock_error(400, "ValidationException", "messages: bad"))
    with pytest.raises(ClientError) as caught:
        env.client().converse(modelId=HAIKU, messages=ASK)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ValidationException"
    # the provider's message may echo the request: with capture off only type and status
    assert span.status.description == "ValidationException (HTTP 400)"
    [duration] = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "ValidationException"
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE) == []


def test_unmodeled_error_code(env) -> None:
    # A code the service model does not declare: botocore raises plain ClientError;
    # error.type is still the AWS error code.
    env.server.enqueue(bedrock_error(400, "SomethingNewException"))
    with pytest.raises(ClientError) as caught:
        env.client().converse(modelId=HAIKU, messages=ASK)
    assert type(caught.value) is ClientError
    assert env.span().attributes[sc.ERROR_TYPE] == "SomethingNewException"


def test_botocore_retries_are_events(env) -> None:
    env.server.enqueue(bedrock_throttled(), bedrock_error(503), bedrock_converse("ok"))
    response = env.client(max_attempts=3).converse(modelId=HAIKU, messages=ASK)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 2
    retries = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert [dict(e.attributes) for e in retries] == [
        {sc.TRIPWIRE_RETRY_ATTEMPT: 1, sc.HTTP_RESPONSE_STATUS_CODE: 429,
         sc.ERROR_TYPE: "ThrottlingException"},
        {sc.TRIPWIRE_RETRY_ATTEMPT: 2, sc.HTTP_RESPONSE_STATUS_CODE: 503,
         sc.ERROR_TYPE: "ServiceUnavailableException"},
    ]
    counted = {(p.attributes[sc.HTTP_RESPONSE_STATUS_CODE], p.value)
               for p in env.points(sc.METRIC_RETRIES)}
    assert counted == {(429, 1), (503, 1)}
    assert len(env.server.requests) == 3


def test_retries_exhausted(env) -> None:
    env.server.enqueue(bedrock_throttled(), bedrock_throttled())
    with pytest.raises(ClientError):
        env.client(max_attempts=2).converse(modelId=HAIKU, messages=ASK)
    span = env.span()
    assert span.attributes[sc.ERROR_TYPE] == "ThrottlingException"
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 1  # the last failure is not retried


def test_connection_error(env) -> None:
    from botocore.exceptions import EndpointConnectionError

    client = env.client()
    env.server.stop()
    with pytest.raises(EndpointConnectionError):
        client.converse(modelId=HAIKU, messages=ASK)
    span = env.span()
    assert span.attributes[sc.ERROR_TYPE] == "EndpointConnectionError"
    assert span.status.status_code is StatusCode.ERROR


def test_other_service_retries_inside_the_call_are_not_counted(env) -> None:
    # e.g. an STS client refreshing credentials while the Bedrock request is signed
    from types import SimpleNamespace

    from tripwire._core.invocation import LLMCall, Request
    from tripwire._core.telemetry import make_telemetry
    from tripwire.instrumentation.bedrock import _retry_hook

    def operation(service: str) -> SimpleNamespace:
        return SimpleNamespace(service_model=SimpleNamespace(service_name=service))

    telemetry = make_telemetry("test", env.tracer_provider, env.meter_provider)
    call = LLMCall(telemetry, Request("chat", "aws.bedrock", HAIKU))
    token = call.activate()
    try:
        for service in ("sts", "bedrock-runtime"):
            assert _retry_hook(lambda *a, **k: True, None,
                               (1, operation(service), {}, None, TimeoutError()), {}) is True
    finally:
        call.deactivate(token)
    call.finish(None)
    span = env.span()
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 1
    [event] = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert event.attributes[sc.ERROR_TYPE] == "TimeoutError"
