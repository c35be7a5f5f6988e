"""InvokeModel: the Anthropic Messages body in full, other bodies with what is cheap to read;
the app's response body stays readable."""

from __future__ import annotations

import io
import json

import pytest
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.instrumentation.bedrock import invoke
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing._http import json_reply
from tripwire.testing.anthropic_server import (
    AnthropicUsage,
    anthropic_refusal,
    anthropic_text,
    anthropic_tool_use,
)
from tripwire.testing.bedrock_server import (
    bedrock_converse,
    bedrock_error,
    bedrock_invoke_anthropic,
)

from .conftest import HAIKU

SONNET_PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _body(**extra) -> bytes:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
            "messages": [{"role": "user", "content": "What is the weather?"}], **extra}
    return json.dumps(body).encode()


def test_invoke_anthropic(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic(
        "Sunny.", usage=AnthropicUsage(input_tokens=20, output_tokens=4,
                                       cache_read_input_tokens=100,
                                       cache_creation_input_tokens=8)))
    response = env.client().invoke_model(
        modelId=SONNET_PROFILE, contentType="application/json",
        body=_body(system="You are terse.", temperature=0.1, top_p=0.8, top_k=5,
                   stop_sequences=["\n\nHuman:"]))
    # the app reads the body we already read: same bytes, all of them
    payload = json.loads(response["body"].read())
    assert payload["content"][0]["text"] == "Sunny."
    span = env.span()
    a = span.attributes
    assert span.name == f"chat {SONNET_PROFILE}"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert a[sc.GEN_AI_REQUEST_MODEL] == SONNET_PROFILE
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.1
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.8
    assert a[sc.GEN_AI_REQUEST_TOP_K] == 5
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("\n\nHuman:",)
    assert a[sc.GEN_AI_RESPONSE_ID] == payload["id"]
    assert a[sc.AWS_REQUEST_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_MODEL] == payload["model"] == "claude-sonnet-4-5-20250929"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 128
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 8
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16


def test_body_read_methods_still_work(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic("one two three"))
    response = env.client().invoke_model(modelId=HAIKU, body=_body())
    raw = b"".join(response["body"].iter_chunks(chunk_size=7))
    assert json.loads(raw)["content"][0]["text"] == "one two three"
    assert env.span().attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


def test_invoke_anthropic_tool_use(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic([
        anthropic_text("Checking."),
        anthropic_tool_use("get_weather", {"city": 7}, id="toolu_1"),
        anthropic_tool_use("launch", {}, id="toolu_2")]))
    env.client().invoke_model(modelId=HAIKU, body=_body(tools=[{
        "name": "get_weather", "description": "Weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]))
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "launch")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("launch",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)


def test_invoke_anthropic_refusal(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic(anthropic_refusal("cyber")))
    env.client().invoke_model(modelId=HAIKU, body=_body())
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"  # stop_details, as on Anthropic
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "cyber"


def test_invoke_guardrail_action_in_body(env) -> None:
    # InvokeModel with a guardrail reports the intervention in the body, not the stop reason
    env.server.enqueue(json_reply({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-haiku-20240307",
        "content": [{"type": "text", "text": "Sorry, the model cannot answer this question."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 0},
        "amazon-bedrock-guardrailAction": "INTERVENED"}))
    env.client().invoke_model(modelId=HAIKU, body=_body(), guardrailIdentifier="gr-9",
                              guardrailVersion="DRAFT")
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "guardrail"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ID] == "gr-9"


def test_invoke_error(env) -> None:
    from botocore.exceptions import ClientError

    env.server.enqueue(bedrock_error(424, "ModelErrorException"))
    with pytest.raises(ClientError):
        env.client().invoke_model(modelId=HAIKU, body=_body())
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ModelErrorException"


def test_other_body_usage_from_headers(env) -> None:
    answer = {"generation": "Hi there", "stop_reason": "stop"}
    env.server.enqueue(json_reply(answer, headers={
        "x-amzn-requestid": "req-llama", "x-amzn-bedrock-input-token-count": "9",
        "x-amzn-bedrock-output-token-count": "3"}))
    response = env.client().invoke_model(
        modelId="meta.llama3-70b-instruct-v1:0",
        body=json.dumps({"prompt": "hello", "max_gen_len": 64, "temperature": 0.5}))
    a = env.span().attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert a[sc.GEN_AI_RESPONSE_ID] == response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)  # Llama's own
    # the app still reads the whole body
    assert json.loads(response["body"].read()) == answer


def test_nova_body_parameters(env) -> None:
    env.server.enqueue(json_reply({"output": {}}))
    env.client().invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({
        "schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "x"}]}],
        "inferenceConfig": {"max_new_tokens": 30, "top_p": 0.5, "stopSequences": ["x"]}}))
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 30
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.5
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("x",)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a  # no token headers in this reply


def test_embeddings_model(env) -> None:
    env.server.enqueue(json_reply({"embedding": [0.1, 0.2], "inputTextTokenCount": 4},
                                  headers={"x-amzn-bedrock-input-token-count": "4"}))
    env.client().invoke_model(modelId="amazon.titan-embed-text-v2:0",
                              body=json.dumps({"inputText": "hello", "dimensions": 256}))
    span = env.span()
    assert span.name == "embeddings amazon.titan-embed-text-v2:0"
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 256
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 4


def test_file_like_body_is_not_consumed(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic("from a file"))
    response = env.client().invoke_model(modelId=HAIKU, body=io.BytesIO(_body()))
    assert json.loads(response["body"].read())["content"][0]["text"] == "from a file"
    sent = env.server.last_request.json
    assert sent["anthropic_version"] == "bedrock-2023-05-31"  # botocore sent it whole
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 25  # from the token-count headers
    assert sc.GEN_AI_REQUEST_MAX_TOKENS not in a  # a file body is not read by us


def test_failed_body_read_reaches_the_app_unchanged() -> None:
    class Boom(Exception):
        pass

    class BrokenBody:
        def read(self) -> bytes:
            raise Boom("connection reset")

    response = {"contentType": "application/json", "body": BrokenBody()}
    with pytest.raises(Boom):
        invoke._take_body(response)
    with pytest.raises(Boom, match="connection reset"):
        response["body"].read()  # what the app sees: the same failure, on its own read


# --- the Anthropic body is mapped as the anthropic instrumentor maps it -----------------------

def test_invoke_anthropic_client_tools_without_schema_are_declared(env) -> None:
    # Anthropic-defined client tools (bash, text_editor) have a name but no input_schema:
    # declared, so a call to them is not "unknown", and not schema-checked
    env.server.enqueue(bedrock_invoke_anthropic([
        anthropic_tool_use("bash", {"command": "ls"}, id="toolu_1"),
        anthropic_tool_use("launch", {}, id="toolu_2")]))
    env.client().invoke_model(modelId=HAIKU, body=_body(tools=[
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"type": "bash_20250124", "name": "bash"}]))
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("bash", "launch")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("launch",)


def test_invoke_anthropic_structured_output(env) -> None:
    env.server.enqueue(bedrock_invoke_anthropic('{"city": "Paris"}'))
    env.client().invoke_model(modelId=HAIKU, body=_body(output_config={"format": {
        "type": "json_schema", "schema": {"type": "object"}}}))
    assert env.span().attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"


def test_invoke_anthropic_system_blocks_as_converse_and_the_sdk_see_them(env) -> None:
    # one system instruction per block, and the prompt hash of the same blocks sent through
    # Converse (or the anthropic SDK)
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    client = env.client()
    client.invoke_model(modelId=HAIKU, body=_body(system=[
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}}]))
    env.server.enqueue(bedrock_converse("Oui."))
    client.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "Hi"}]}],
                    system=[{"text": "You are terse."}, {"text": "Answer in French."}])
    invoked, conversed = env.spans()
    assert json.loads(invoked.attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are terse."},
        {"type": "text", "content": "Answer in French."}]
    assert (invoked.attributes[sc.TRIPWIRE_PROMPT_HASH]
            == conversed.attributes[sc.TRIPWIRE_PROMPT_HASH])


def test_invoke_anthropic_thinking_tokens(env) -> None:
    env.server.enqueue(json_reply({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "42"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 40,
                  "output_tokens_details": {"thinking_tokens": 30}}}))
    env.client().invoke_model(modelId=HAIKU, body=_body())
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 40
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 30


def test_the_shared_anthropic_mapping_does_not_import_the_anthropic_sdk() -> None:
    import subprocess
    import sys

    code = ("import sys, tripwire.instrumentation.bedrock, tripwire._core.wire.anthropic_messages;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'anthropic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
