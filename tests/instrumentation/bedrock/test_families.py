"""InvokeModel bodies and stream chunks of every model family: finish reasons (as sent),
usage, response ids, guardrail and content-filter refusals; a hostile field costs only
itself. The bodies follow the AWS Bedrock model-parameter pages; the replay kit
(tests/replay) checks the same mappings against recorded answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tripwire import semconv as sc
from tripwire.testing._eventstream import CONTENT_TYPE, event_message
from tripwire.testing._http import StreamReply, json_reply

HEADERS = {"x-amzn-requestid": "req-1", "x-amzn-bedrock-input-token-count": "11",
           "x-amzn-bedrock-output-token-count": "7"}

# (model id, response body, finish reasons, input, output, response id or None for the
# request id, refusal category or None)
BODIES: list[tuple[str, dict[str, Any], tuple[str, ...], int, int, str | None, str | None]] = [
    ("amazon.titan-text-express-v1",
     {"inputTextTokenCount": 5, "results": [{"tokenCount": 9, "outputText": "hi",
                                             "completionReason": "LENGTH"}]},
     ("LENGTH",), 5, 9, None, None),
    ("amazon.titan-text-express-v1",
     {"inputTextTokenCount": 5, "results": [{"tokenCount": 0, "outputText": "",
                                             "completionReason": "CONTENT_FILTERED"}]},
     ("CONTENT_FILTERED",), 5, 0, None, "content_filtered"),
    ("meta.llama3-70b-instruct-v1:0",
     {"generation": "x", "prompt_token_count": 8, "generation_token_count": 35,
      "stop_reason": "stop"}, ("stop",), 8, 35, None, None),
    ("mistral.mistral-7b-instruct-v0:2",
     {"outputs": [{"text": "x", "stop_reason": "length"}]}, ("length",), 11, 7, None, None),
    ("mistral.mistral-large-2407-v1:0",
     {"id": "cmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                                   "stop_reason": "stop"}]}, ("stop",), 11, 7, "cmpl-1", None),
    ("ai21.jamba-1-5-mini-v1:0",
     {"id": "chatcmpl-9", "model": "jamba-1.5-mini",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                   "finish_reason": "content_filter"}],
      "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}},
     ("content_filter",), 20, 3, "chatcmpl-9", "content_filtered"),
    ("cohere.command-text-v14",
     {"id": "gen-a", "generations": [{"id": "g1", "text": "x", "finish_reason": "ERROR_TOXIC"}],
      "prompt": "p"}, ("ERROR_TOXIC",), 11, 7, "gen-a", "content_filtered"),
    ("cohere.command-r-v1:0",
     {"response_id": "resp-r", "text": "x", "generation_id": "g", "finish_reason": "COMPLETE",
      "chat_history": []}, ("COMPLETE",), 11, 7, "resp-r", None),
    ("ai21.j2-mid-v1",
     {"id": 1234, "prompt": {"text": "p"},
      "completions": [{"data": {"text": "x"}, "finishReason": {"reason": "endoftext"}}]},
     ("endoftext",), 11, 7, None, None),
    ("anthropic.claude-v2:1",
     {"type": "completion", "completion": " x", "stop_reason": "stop_sequence",
      "stop": "\n\nHuman:"}, ("stop_sequence",), 11, 7, None, None),
    ("amazon.nova-lite-v1:0",
     {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
      "stopReason": "max_tokens", "usage": {"inputTokens": 30, "outputTokens": 10,
                                            "cacheReadInputTokenCount": 4,
                                            "cacheWriteInputTokenCount": 0}},
     ("max_tokens",), 34, 10, None, None),
    # a guardrail that masked the answer: the body says so, the headers count the output
    ("amazon.nova-lite-v1:0",
     {"output": {"message": {"role": "assistant", "content": [{"text": "{NAME}"}]}},
      "stopReason": "end_turn", "usage": {"inputTokens": 30},
      "amazon-bedrock-guardrailAction": "INTERVENED"}, ("end_turn",), 30, 7, None, "guardrail"),
]


@pytest.mark.parametrize(("model", "body", "finish", "inputs", "outputs", "rid", "category"),
                         BODIES, ids=[f"{b[0]}-{b[2][0]}" for b in BODIES])
def test_invoke_body(env, model, body, finish, inputs, outputs, rid, category) -> None:
    env.server.enqueue(json_reply(body, headers=HEADERS))
    response = env.client().invoke_model(modelId=model, body=json.dumps({"prompt": "hi"}))
    assert json.loads(response["body"].read()) == body  # the app's body, whole
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == finish
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == inputs
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == outputs
    request_id = response["ResponseMetadata"]["RequestId"]
    assert a[sc.GEN_AI_RESPONSE_ID] == (rid or request_id)
    assert a[sc.AWS_REQUEST_ID] == request_id
    if category is None:
        assert sc.TRIPWIRE_REFUSAL not in a
    else:
        assert a[sc.TRIPWIRE_REFUSAL] is True
        assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == category


def _chunk(payload: dict[str, Any]) -> bytes:
    return event_message("chunk", {"bytes": base64.b64encode(json.dumps(payload).encode()).decode()})


def _stream(env, model: str, *payloads: dict[str, Any]) -> Any:
    env.server.enqueue(StreamReply([_chunk(p) for p in payloads], content_type=CONTENT_TYPE,
                                   headers={"x-amzn-requestid": "req-s"}))
    response = env.client().invoke_model_with_response_stream(
        modelId=model, body=json.dumps({"prompt": "hi"}))
    assert len(list(response["body"])) == len(payloads)
    spans = env.exporter.get_finished_spans()
    assert len(spans) == 1
    return spans[0].attributes


METRICS = {"amazon-bedrock-invocationMetrics": {"inputTokenCount": 12, "outputTokenCount": 4,
                                                "invocationLatency": 9, "firstByteLatency": 3}}


def test_titan_stream_blocked_input_without_metrics(env) -> None:
    """Issue #17: the guardrail blocked the input; the only chunk has no invocation metrics,
    but Titan's own counts (floats, as sent) are usage, and the block is a refusal."""
    a = _stream(env, "amazon.titan-text-express-v1", {
        "outputText": "Input blocked", "index": 0.0, "totalOutputTextTokenCount": 3.0,
        "inputTextTokenCount": 6.0, "amazon-bedrock-guardrailAction": "INTERVENED",
        "amazon-bedrock-trace": {"guardrail": {"input": {"g1": {"topicPolicy": {"topics": [
            {"name": "t", "type": "DENY", "action": "BLOCKED", "detected": True}]}}}}}})
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 6
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "denied_topic"


def test_llama_stream(env) -> None:
    a = _stream(env, "meta.llama3-8b-instruct-v1:0",
                {"generation": "Hi", "prompt_token_count": 12, "generation_token_count": 1,
                 "stop_reason": None},
                {"generation": " there", "prompt_token_count": None, "generation_token_count": 2,
                 "stop_reason": "stop", **METRICS})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 2)


def test_claude_text_stream_and_metrics(env) -> None:
    a = _stream(env, "anthropic.claude-v2", {"completion": " a", "stop_reason": None},
                {"completion": " b", "stop_reason": "max_tokens", "stop": None, **METRICS})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 4)


def test_cohere_command_r_stream(env) -> None:
    a = _stream(env, "cohere.command-r-plus-v1:0",
                {"is_finished": False, "event_type": "text-generation", "text": "Hi"},
                {"is_finished": True, "event_type": "stream-end", "finish_reason": "MAX_TOKENS",
                 "response": {"response_id": "r-9", "text": "Hi",
                              "meta": {"billed_units": {"input_tokens": 5, "output_tokens": 1}}},
                 **METRICS})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("MAX_TOKENS",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (5, 1)


def test_nova_stream_guardrail_chunks(env) -> None:
    a = _stream(env, "amazon.nova-micro-v1:0", {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "x"}, "contentBlockIndex": 0},
                 "amazon-bedrock-guardrailAction": "INTERVENED"},
                {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": {"inputTokens": 30, "outputTokens": 55,
                                        "cacheReadInputTokenCount": 0,
                                        "cacheWriteInputTokenCount": 0}}, **METRICS})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (30, 55)
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "guardrail"


def test_mistral_chat_stream_and_jamba_usage(env) -> None:
    a = _stream(env, "mistral.mistral-large-2407-v1:0",
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "a"},
                              "stop_reason": None}]},
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "b"},
                              "stop_reason": "length"}], **METRICS})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 4)


def test_hostile_fields_cost_only_themselves(env) -> None:
    """A count that is negative, huge, a string or a bool, a finish reason that is an object:
    each is dropped alone; the sound fields and Bedrock's header counts are still recorded."""
    body = {"inputTextTokenCount": -5, "results": [
        {"tokenCount": 1e300, "outputText": {"x": 1}, "completionReason": "FINISH"},
        {"tokenCount": True, "completionReason": {"bad": 1}}, "not a result"],
        "amazon-bedrock-guardrailAction": ["INTERVENED"], "amazon-bedrock-trace": "x"}
    env.server.enqueue(json_reply(body, headers=HEADERS))
    env.client().invoke_model(modelId="amazon.titan-text-express-v1", body=b"{}")
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("FINISH",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (11, 7)
    assert sc.TRIPWIRE_REFUSAL not in a


def test_hostile_stream_chunks(env) -> None:
    a = _stream(env, "meta.llama3-8b-instruct-v1:0",
                {"generation": 5, "prompt_token_count": "12", "stop_reason": 3},
                {"generation": "ok", "generation_token_count": 2, "stop_reason": "stop",
                 "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9,
                                                      "outputTokenCount": -1}})
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (9, 2)


def test_request_parameters_of_other_families(env) -> None:
    env.server.enqueue(json_reply({"generations": []}))
    env.client().invoke_model(modelId="cohere.command-text-v14", body=json.dumps(
        {"prompt": "x", "max_tokens": 40, "p": 0.7, "k": 3, "stop_sequences": ["##"]}))
    env.server.enqueue(json_reply({"completions": []}))
    env.client().invoke_model(modelId="ai21.j2-mid-v1", body=json.dumps(
        {"prompt": "x", "maxTokens": 200, "topP": 0.5, "stopSequences": ["##"]}))
    cohere, ai21 = (s.attributes for s in env.exporter.get_finished_spans())
    assert (cohere[sc.GEN_AI_REQUEST_MAX_TOKENS], cohere[sc.GEN_AI_REQUEST_TOP_P],
            cohere[sc.GEN_AI_REQUEST_TOP_K]) == (40, 0.7, 3)
    assert (ai21[sc.GEN_AI_REQUEST_MAX_TOKENS], ai21[sc.GEN_AI_REQUEST_TOP_P]) == (200, 0.5)
    assert ai21[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("##",)
