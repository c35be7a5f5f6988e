"""ConverseStream and InvokeModelWithResponseStream: the span ends exactly once on every exit
path, with what the events carried (usage from ``metadata``, stop reason from ``messageStop``)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EventStreamError
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.testing.bedrock_server import (
    BedrockUsage,
    bedrock_converse,
    bedrock_guardrail_intervened,
    bedrock_invoke_anthropic,
    bedrock_reasoning,
    bedrock_text,
    bedrock_tool_use,
)

from .conftest import HAIKU

ASK = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
TEXT = "The quick brown fox jumps over the lazy dog"


def _open(env, **kwargs):
    return env.client().converse_stream(modelId=HAIKU, messages=ASK, **kwargs)


def _text(events) -> str:
    return "".join(e.get("contentBlockDelta", {}).get("delta", {}).get("text") or ""
                   for e in events)


def test_converse_stream_span(env) -> None:
    env.server.enqueue(bedrock_converse(TEXT, usage=BedrockUsage(
        input_tokens=12, output_tokens=9, cache_read_input_tokens=30)))
    response = _open(env, inferenceConfig={"maxTokens": 50})
    assert env.spans() == ()  # open until the app has read the stream
    assert _text(response["stream"]) == TEXT
    span = env.span()
    a = span.attributes
    assert span.name == f"chat {HAIKU}"
    assert span.status.status_code is StatusCode.UNSET
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 42
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 30
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    assert a[sc.GEN_AI_RESPONSE_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.AWS_REQUEST_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    [ttfc] = env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum
              for p in env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens == {"input": 42, "output": 9}
    [duration] = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1


def test_stream_result_is_the_same_dict(env) -> None:
    response = _open(env)
    assert set(response) == {"ResponseMetadata", "stream"}
    # the proxy still is an EventStream to the app
    from botocore.eventstream import EventStream

    assert isinstance(response["stream"], EventStream)
    list(response["stream"])


def test_streamed_tool_use(env) -> None:
    env.server.enqueue(bedrock_converse([
        bedrock_reasoning("The user wants weather."),
        bedrock_text("Checking."),
        bedrock_tool_use("get_weather", {"city": "Paris", "unit": "C"}, tool_use_id="tu_1"),
        bedrock_tool_use("get_time", {}, tool_use_id="tu_2"),
    ]))
    list(_open(env, toolConfig={"tools": [{"toolSpec": {
        "name": "get_weather",
        "inputSchema": {"json": {"type": "object",
                                 "properties": {"city": {"type": "string"}}}}}}]})["stream"])
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("tu_1", "tu_2")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("get_time",)
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a  # fragments joined into valid JSON


def test_streamed_guardrail(env) -> None:
    env.server.enqueue(bedrock_guardrail_intervened(source="output", filter_type="HATE"))
    list(_open(env)["stream"])
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "hate"  # from the trace in the metadata event


# --- exit paths ------------------------------------------------------------------------------

def _one_ended(env):
    spans = env.spans()
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].end_time is not None
    return spans[0]


def test_cut_short_stream_usage_is_estimated(env) -> None:
    # exit paths themselves: tests/contract/test_streams.py
    env.server.enqueue(bedrock_converse(TEXT))
    stream = _open(env)["stream"]
    for _ in stream:
        break
    stream.close()
    # the metadata event never came: usage is estimated, and marked so
    assert _one_ended(env).attributes[sc.TRIPWIRE_USAGE_ESTIMATED] is True


def test_in_band_exception_mid_stream(env) -> None:
    env.server.enqueue(bedrock_converse(TEXT, exception_after=4,
                                        exception_type="throttlingException"))
    seen = []
    with pytest.raises(EventStreamError) as caught:
        for event in _open(env)["stream"]:
            seen.append(event)
    assert len(seen) == 4
    span = _one_ended(env)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == caught.value.response["Error"]["Code"] \
        == "throttlingException"
    [duration] = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "throttlingException"


# --- InvokeModelWithResponseStream ----------------------------------------------------------

def _anthropic_body(**extra) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "hi"}], **extra})


def test_invoke_stream_anthropic(env) -> None:
    from tripwire.testing.anthropic_server import (
        AnthropicUsage,
        anthropic_text,
        anthropic_tool_use,
    )

    env.server.enqueue(bedrock_invoke_anthropic(
        [anthropic_text("Checking."), anthropic_tool_use("get_weather", {"city": "Oslo"},
                                                         id="toolu_1")],
        usage=AnthropicUsage(input_tokens=20, output_tokens=15, cache_read_input_tokens=50)))
    response = env.client().invoke_model_with_response_stream(
        modelId=HAIKU, body=_anthropic_body(temperature=0.3, tools=[{
            "name": "get_weather", "input_schema": {"type": "object"}}]))
    chunks = list(response["body"])
    assert all("chunk" in c for c in chunks)
    span = _one_ended(env)
    a = span.attributes
    assert span.name == f"chat {HAIKU}"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "claude-3-haiku-20240307"
    assert a[sc.GEN_AI_RESPONSE_ID].startswith("msg_")
    assert a[sc.AWS_REQUEST_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 70
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 15
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("toolu_1",)
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_invoke_stream_anthropic_error_mid_stream(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic("a b c d", error_after=3))
    with pytest.raises(EventStreamError):
        list(env.client().invoke_model_with_response_stream(modelId=HAIKU,
                                                            body=_anthropic_body())["body"])
    span = _one_ended(env)
    assert span.attributes[sc.ERROR_TYPE] == "modelStreamErrorException"


def test_invoke_stream_other_body_usage_from_invocation_metrics(env) -> None:
    import base64

    from tripwire.testing._eventstream import CONTENT_TYPE, event_message
    from tripwire.testing._http import StreamReply

    def chunk(payload: dict) -> bytes:
        return event_message("chunk", {"bytes": base64.b64encode(
            json.dumps(payload).encode()).decode()})

    env.server.enqueue(StreamReply([
        chunk({"outputText": "Hello", "index": 0}),
        chunk({"outputText": " world", "index": 0, "completionReason": "FINISH",
               "amazon-bedrock-invocationMetrics": {"inputTokenCount": 6,
                                                    "outputTokenCount": 2}}),
    ], content_type=CONTENT_TYPE, headers={"x-amzn-requestid": "req-titan"}))
    response = env.client().invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1",
        body=json.dumps({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 20}}))
    assert len(list(response["body"])) == 2
    a = _one_ended(env).attributes
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 6
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert a[sc.GEN_AI_RESPONSE_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("FINISH",)  # Titan's own spelling
