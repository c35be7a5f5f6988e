"""The real ``boto3`` ``bedrock-runtime`` client against FakeBedrockServer, and the AWS
event-stream encoder against botocore's decoder."""

from __future__ import annotations

import json

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer  # noqa: E402
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402

from tripwire.testing._eventstream import (  # noqa: E402
    encode_message,
    error_message,
    event_message,
    exception_message,
)
from tripwire.testing.anthropic_server import (  # noqa: E402
    AnthropicUsage,
    anthropic_message,
    anthropic_tool_use,
)
from tripwire.testing.bedrock_server import (  # noqa: E402
    BedrockUsage,
    FakeBedrockServer,
    bedrock_content_filtered,
    bedrock_converse,
    bedrock_error,
    bedrock_guardrail_intervened,
    bedrock_invoke_anthropic,
    bedrock_reasoning,
    bedrock_text,
    bedrock_throttled,
    bedrock_tool_use,
    parse_bedrock_path,
)

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
ANTHROPIC_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                  "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def server():
    with FakeBedrockServer() as fake:
        yield fake


@pytest.fixture
def client(server, monkeypatch):
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    return boto3.client(
        "bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", aws_session_token="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def converse(client, **kwargs):
    kwargs.setdefault("modelId", MODEL_ID)
    kwargs.setdefault("messages", MESSAGES)
    return client.converse(**kwargs)


def converse_stream(client, **kwargs):
    kwargs.setdefault("modelId", MODEL_ID)
    kwargs.setdefault("messages", MESSAGES)
    return list(client.converse_stream(**kwargs)["stream"])


# --- the event-stream encoder -------------------------------------------------------------
def test_eventstream_roundtrip_with_botocore_decoder():
    data = (event_message("messageStart", {"role": "assistant"})
            + encode_message({"t": True, "f": False, "i": -5, "l": 2**40, "b": b"\x00\x01",
                              "s": "é"}, b"raw")
            + exception_message("throttlingException", "slow down")
            + error_message("InternalFailure", "oops"))
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    messages = list(buffer)
    assert [m.headers.get(":message-type") for m in messages] == [
        "event", None, "exception", "error"]
    assert messages[0].headers[":event-type"] == "messageStart"
    assert messages[0].headers[":content-type"] == "application/json"
    assert json.loads(messages[0].payload) == {"role": "assistant"}
    assert messages[1].headers == {"t": True, "f": False, "i": -5, "l": 2**40,
                                   "b": b"\x00\x01", "s": "é"}
    assert messages[1].payload == b"raw"
    assert messages[2].to_response_dict()["status_code"] == 400
    assert messages[3].headers[":error-code"] == "InternalFailure"


def test_eventstream_crc_is_checked():
    raw = bytearray(event_message("messageStop", {"stopReason": "end_turn"}))
    raw[-6] ^= 0xFF  # corrupt the payload
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(raw))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


def test_parse_bedrock_path_decodes_model_id():
    assert parse_bedrock_path("/model/us.anthropic.claude-x-v1%3A0/converse-stream") == (
        "us.anthropic.claude-x-v1:0", "converse-stream")
    arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fp"
    assert parse_bedrock_path(f"/model/{arn}/invoke") == (
        "arn:aws:bedrock:us-east-1:1:inference-profile/p", "invoke")
    assert parse_bedrock_path("/guardrail/x/version/1/apply") is None


# --- Converse ------------------------------------------------------------------------------
def test_converse_default(server, client):
    response = converse(client, system=[{"text": "Be brief."}],
                        inferenceConfig={"maxTokens": 50, "temperature": 0.1})
    message = response["output"]["message"]
    assert message == {"role": "assistant",
                       "content": [{"text": "Hello from the fake Bedrock server."}]}
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 18, "outputTokens": 9, "totalTokens": 27}
    assert response["metrics"] == {"latencyMs": 321}
    assert "trace" not in response
    (request,) = server.requests
    assert request.path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    assert request.json["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.1}
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256")
    assert response["ResponseMetadata"]["RequestId"].startswith("req_")


def test_converse_tool_use_reasoning_and_cache_usage(server, client):
    server.enqueue(bedrock_converse(
        [bedrock_reasoning("Need a tool."), bedrock_text("Checking."),
         bedrock_tool_use("get_weather", {"city": "Paris"}, tool_use_id="tu-1")],
        usage=BedrockUsage(10, 20, cache_read_input_tokens=300, cache_write_input_tokens=50),
        latency_ms=42))
    response = converse(client)
    content = response["output"]["message"]["content"]
    assert content[0]["reasoningContent"]["reasoningText"]["text"] == "Need a tool."
    assert content[2]["toolUse"] == {"toolUseId": "tu-1", "name": "get_weather",
                                     "input": {"city": "Paris"}}
    assert response["stopReason"] == "tool_use"
    assert response["usage"] == {"inputTokens": 10, "outputTokens": 20, "totalTokens": 380,
                                 "cacheReadInputTokens": 300, "cacheWriteInputTokens": 50}
    assert response["metrics"]["latencyMs"] == 42


@pytest.mark.parametrize("stop_reason", ["max_tokens", "stop_sequence",
                                         "model_context_window_exceeded"])
def test_converse_stop_reasons(server, client, stop_reason):
    server.enqueue(bedrock_converse("cut", stop_reason=stop_reason,
                                    additional_model_response_fields={"stop_sequence": None}))
    response = converse(client)
    assert response["stopReason"] == stop_reason
    assert response["additionalModelResponseFields"] == {"stop_sequence": None}


def test_converse_guardrail_intervened(server, client):
    server.enqueue(bedrock_guardrail_intervened(source="output", filter_type="HATE"))
    response = converse(client, guardrailConfig={"guardrailIdentifier": "g",
                                                 "guardrailVersion": "1", "trace": "enabled"})
    assert response["stopReason"] == "guardrail_intervened"
    assert response["output"]["message"]["content"][0]["text"].startswith("Sorry")
    guardrail = response["trace"]["guardrail"]
    (assessment,) = guardrail["outputAssessments"]["fake-guardrail"]
    (flt,) = assessment["contentPolicy"]["filters"]
    assert (flt["type"], flt["action"], flt["detected"]) == ("HATE", "BLOCKED", True)
    assert response["usage"]["outputTokens"] == 0


def test_converse_content_filtered(server, client):
    server.enqueue(bedrock_content_filtered())
    response = converse(client)
    assert response["stopReason"] == "content_filtered"
    assert response["output"]["message"]["content"] == []


# --- ConverseStream -----------------------------------------------------------------------
def test_converse_stream_events(server, client):
    server.enqueue(bedrock_converse(
        [bedrock_text("Sunny in Paris."), bedrock_tool_use("get_weather", {"city": "Paris"},
                                                           tool_use_id="tu-9")],
        usage=BedrockUsage(5, 6, cache_read_input_tokens=7), latency_ms=99))
    events = converse_stream(client)
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events
                   if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == 0)
    assert text == "Sunny in Paris."
    (start,) = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start == {"start": {"toolUse": {"toolUseId": "tu-9", "name": "get_weather"}},
                     "contentBlockIndex": 1}
    tool_json = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                        if "contentBlockDelta" in e
                        and "toolUse" in e["contentBlockDelta"]["delta"])
    assert json.loads(tool_json) == {"city": "Paris"}
    assert names.count("contentBlockStop") == 2
    assert events[-2]["messageStop"] == {"stopReason": "tool_use"}
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == {"inputTokens": 5, "outputTokens": 6, "totalTokens": 18,
                                 "cacheReadInputTokens": 7}
    assert metadata["metrics"] == {"latencyMs": 99}
    assert server.requests[0].path.endswith("/converse-stream")


def test_converse_stream_guardrail_trace_in_metadata(server, client):
    server.enqueue(bedrock_guardrail_intervened())
    events = converse_stream(client)
    assert events[-2]["messageStop"]["stopReason"] == "guardrail_intervened"
    assert "inputAssessment" in events[-1]["metadata"]["trace"]["guardrail"]


def test_converse_stream_exception_mid_stream(server, client):
    server.enqueue(bedrock_converse("one two three", exception_after=2,
                                    exception_type="throttlingException",
                                    exception_message="slow down"))
    seen = []
    with pytest.raises(EventStreamError) as info:
        for event in client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
            seen.append(next(iter(event)))
    assert seen == ["messageStart", "contentBlockDelta"]
    assert info.value.response["Error"] == {"Code": "throttlingException",
                                            "Message": "slow down"}


def test_converse_stream_truncated_raises(server, client):
    import urllib3

    server.enqueue(bedrock_converse("one two three four", abort_after=3))
    seen = []
    with pytest.raises((urllib3.exceptions.HTTPError, ClientError)):
        for event in client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
            seen.append(next(iter(event)))
    assert seen == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


# --- InvokeModel (Anthropic body) ---------------------------------------------------------
def test_invoke_model_anthropic_body(server, client):
    response = client.invoke_model(modelId=MODEL_ID, body=json.dumps(ANTHROPIC_BODY))
    body = json.loads(response["body"].read())
    assert body["type"] == "message"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["content"] == [{"type": "text", "text": "Hello from the fake Bedrock server."}]
    assert body["usage"]["input_tokens"] == 25 and body["usage"]["output_tokens"] == 12
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "25"
    assert headers["x-amzn-bedrock-output-token-count"] == "12"
    assert response["contentType"] == "application/json"
    assert server.requests[0].json == ANTHROPIC_BODY


def test_invoke_model_scripted_tool_use_and_cache(server, client):
    server.enqueue(bedrock_invoke_anthropic(anthropic_message(
        [anthropic_tool_use("get_weather", {"city": "Rome"})],
        usage=AnthropicUsage(4, 5, cache_read_input_tokens=6, cache_creation_input_tokens=7))))
    response = client.invoke_model(modelId="anthropic.claude-haiku-4-5-20251001-v1:0",
                                   body=json.dumps(ANTHROPIC_BODY))
    body = json.loads(response["body"].read())
    assert body["model"] == "claude-haiku-4-5-20251001"
    assert body["stop_reason"] == "tool_use"
    assert body["content"][0]["input"] == {"city": "Rome"}
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-cache-read-input-token-count"] == "6"
    assert headers["x-amzn-bedrock-cache-write-input-token-count"] == "7"


def test_invoke_model_with_response_stream(server, client):
    server.enqueue(bedrock_invoke_anthropic("Streamed hi.", stop_reason="max_tokens",
                                            usage=AnthropicUsage(8, 9)))
    response = client.invoke_model_with_response_stream(modelId=MODEL_ID,
                                                        body=json.dumps(ANTHROPIC_BODY))
    events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert events[0]["type"] == "message_start"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "Streamed hi."
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["output_tokens"] == 9
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (8, 9)


def test_invoke_model_non_anthropic_body_is_rejected(server, client):
    with pytest.raises(ClientError) as info:
        client.invoke_model(modelId="amazon.titan-text-express-v1",
                            body=json.dumps({"inputText": "hi"}))
    assert info.value.response["Error"]["Code"] == "ValidationException"


# --- errors -------------------------------------------------------------------------------
def test_throttled(server, client):
    server.enqueue(bedrock_throttled())
    with pytest.raises(ClientError) as info:
        converse(client)
    error = info.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert type(info.value).__name__ == "ThrottlingException"


@pytest.mark.parametrize(("status", "code"), [(500, "InternalServerException"),
                                              (503, "ServiceUnavailableException"),
                                              (424, "ModelErrorException"),
                                              (400, "ValidationException")])
def test_errors_on_every_operation(server, client, status, code):
    server.enqueue(*[bedrock_error(status, message="boom")] * 3)
    for call in (lambda: converse(client), lambda: converse_stream(client),
                 lambda: client.invoke_model(modelId=MODEL_ID, body=json.dumps(ANTHROPIC_BODY))):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"] == {"Code": code, "Message": "boom"}


def test_retry_then_success(server):
    server.enqueue(bedrock_throttled())
    client = boto3.client(
        "bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}))
    response = converse(client)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(server.requests) == 2


# --- server helpers ----------------------------------------------------------------------
def test_client_helper_and_recorded_requests(server):
    error = bedrock_throttled()
    server.enqueue(error, error)
    client = server.client()
    ids = []
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            converse(client)
        ids.append(info.value.response["ResponseMetadata"]["RequestId"])
    assert ids[0] != ids[1]  # a static reply queued twice still gets fresh request ids
    assert converse(client)["stopReason"] == "end_turn"
    converse_stream(client)
    assert len(server.requests_to("/converse")) == 3
    assert server.last_request.path.endswith("/converse-stream")
