"""The Bedrock mappings, exactly (docs/testing.md, "Mutation testing"): every finish reason
of Converse and of each InvokeModel family (kept as sent in gen_ai.response.finish_reasons,
normalised in the output messages), each usage field from each source (headers, invocation
metrics, the family's body) and which one wins, guardrail interventions and content filters
as refusals with their category, request ids. The same mappings through boto3 against the
fake server: tests/instrumentation/bedrock."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from tripwire import semconv as sc
from tripwire._core.invocation import Result
from tripwire.instrumentation.bedrock import common, converse, families, invoke


def usage(result: Result) -> tuple[Any, ...]:
    return (result.input_tokens, result.output_tokens, result.cache_read_tokens,
            result.cache_creation_tokens)


def refusal(result: Result) -> tuple[Any, ...]:
    return result.refusal, result.refusal_source, result.refusal_category


NO_REFUSAL = (False, None, None)
BY_FINISH = sc.REFUSAL_SOURCE_FINISH_REASON


# --- common: the schema finish-reason table --------------------------------------------------

SCHEMA_FINISH = {
    "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "finish": "stop",
    "complete": "stop", "endoftext": "stop", "stop_criteria_met": "stop",
    "length": "length", "max_tokens": "length", "model_context_window_exceeded": "length",
    "tool_use": "tool_call", "tool_calls": "tool_call",
    "content_filtered": "content_filter", "content_filter": "content_filter",
    "guardrail_intervened": "content_filter", "error_toxic": "content_filter",
    "error": "error",
}


@pytest.mark.parametrize(("reason", "expected"), sorted(SCHEMA_FINISH.items()))
def test_schema_finish_every_value_in_any_case(reason: str, expected: str) -> None:
    assert common.schema_finish(reason) == expected
    assert common.schema_finish(reason.upper()) == expected
    assert common.schema_finish(reason.title()) == expected


@pytest.mark.parametrize("reason", ["Unknown_Reason", "", "STOPPED", "pause_turn"])
def test_schema_finish_keeps_an_unknown_reason_as_sent(reason: str) -> None:
    assert common.schema_finish(reason) == reason


@pytest.mark.parametrize("reason", [None, 3, ["stop"]])
def test_schema_finish_passes_a_non_string_on(reason: Any) -> None:
    assert common.schema_finish(reason) is reason


# --- common: ids, headers, error codes, server ---------------------------------------------

@pytest.mark.parametrize(("response", "expected"), [
    ({"ResponseMetadata": {"RequestId": "r-1"}}, "r-1"),
    ({"ResponseMetadata": {"RequestId": ""}}, None),
    ({"ResponseMetadata": {"RequestId": 5}}, None),
    ({"ResponseMetadata": {}}, None),
    ({"ResponseMetadata": "r-1"}, None),
    ({}, None),
    ("r-1", None),
    (None, None),
])
def test_request_id(response: Any, expected: Any) -> None:
    assert common.request_id(response) == expected


def test_request_result_names_the_request() -> None:
    result = common.request_result("r-9")
    assert result.response_id == "r-9"
    assert result.attributes == {sc.AWS_REQUEST_ID: "r-9"}
    for rid in (None, ""):
        empty = common.request_result(rid)
        assert empty.response_id == rid and empty.attributes == {}


@pytest.mark.parametrize(("response", "expected"), [
    ({"ResponseMetadata": {"HTTPHeaders": {"a": "1"}}}, {"a": "1"}),
    ({"ResponseMetadata": {"HTTPHeaders": "a"}}, {}),
    ({"ResponseMetadata": {}}, {}),
    ({"ResponseMetadata": None}, {}),
    ({}, {}),
    (None, {}),
])
def test_response_headers(response: Any, expected: Any) -> None:
    assert common.response_headers(response) == expected


@pytest.mark.parametrize(("response", "expected"), [
    ({"Error": {"Code": "ThrottlingException"}}, "ThrottlingException"),
    ({"Error": {"Code": ""}}, None),
    ({"Error": {"Code": 5}}, None),
    ({"Error": {}}, None),
    ({"Error": "ThrottlingException"}, None),
    ({}, None),
    (None, None),
])
def test_error_code(response: Any, expected: Any) -> None:
    exc = Exception("x")
    exc.response = response  # type: ignore[attr-defined]
    assert common.error_code(exc) == expected


def test_error_code_of_an_exception_without_a_response() -> None:
    assert common.error_code(ValueError("x")) is None


def test_start_attributes_server_of_the_endpoint() -> None:
    client = SimpleNamespace(meta=SimpleNamespace(endpoint_url="https://bedrock.example:8443"))
    assert common.start_attributes(client) == {sc.SERVER_ADDRESS: "bedrock.example",
                                               sc.SERVER_PORT: 8443}
    assert common.start_attributes(SimpleNamespace(meta=SimpleNamespace())) == {}


@pytest.mark.parametrize(("params", "expected"), [
    ({"guardrailConfig": {"guardrailIdentifier": "gr-1"}}, "gr-1"),
    ({"guardrailIdentifier": "gr-2"}, "gr-2"),
    # a config that is not a mapping: the top-level parameter
    ({"guardrailConfig": "x", "guardrailIdentifier": "gr-3"}, "gr-3"),
    # a config (Converse): the top level is not read
    ({"guardrailConfig": {}, "guardrailIdentifier": "gr-4"}, None),
    ({"guardrailIdentifier": ""}, None),
    ({"guardrailIdentifier": 7}, None),
    ({}, None),
])
def test_guardrail_attributes(params: dict[str, Any], expected: Any) -> None:
    attrs: dict[str, Any] = {"kept": 1}
    common.guardrail_attributes(attrs, params)
    assert attrs == ({"kept": 1, sc.AWS_BEDROCK_GUARDRAIL_ID: expected} if expected
                     else {"kept": 1})


# --- common: usage -----------------------------------------------------------------------------

def test_converse_usage_reads_each_field() -> None:
    result = Result()
    common.converse_usage(result, {"inputTokens": 10, "outputTokens": 20,
                                   "cacheReadInputTokens": 300, "cacheWriteInputTokens": 4000})
    assert usage(result) == (4310, 20, 300, 4000)
    result = Result()
    common.converse_usage(result, {"inputTokens": 10, "outputTokens": 20})
    assert usage(result) == (10, 20, None, None)
    result = Result(input_tokens=1, output_tokens=2)
    common.converse_usage(result, [10, 20])
    assert usage(result) == (1, 2, None, None)


# --- common: refusals and guardrail categories -------------------------------------------------

def test_mark_refusal_guardrail_intervened() -> None:
    result = Result()
    common.mark_refusal(result, "guardrail_intervened", None)
    assert refusal(result) == (True, BY_FINISH, "guardrail")
    result = Result()
    trace = {"guardrail": {"inputAssessment": {"g": {"topicPolicy": {
        "topics": [{"name": "x", "action": "BLOCKED"}]}}}}}
    common.mark_refusal(result, "guardrail_intervened", trace)
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


def test_mark_refusal_content_filtered() -> None:
    result = Result()
    trace = {"guardrail": {"inputAssessment": {"g": {"topicPolicy": {
        "topics": [{"action": "BLOCKED"}]}}}}}
    common.mark_refusal(result, "content_filtered", trace)
    assert refusal(result) == (True, BY_FINISH, "content_filtered")


@pytest.mark.parametrize("stop", ["end_turn", "GUARDRAIL_INTERVENED", "CONTENT_FILTERED",
                                  None, "max_tokens"])
def test_mark_refusal_other_reasons(stop: Any) -> None:
    result = Result()
    common.mark_refusal(result, stop, None)
    assert refusal(result) == NO_REFUSAL


@pytest.mark.parametrize(("policy", "key", "category"), [
    ("topicPolicy", "topics", "denied_topic"),
    ("wordPolicy", "customWords", "word_filter"),
    ("wordPolicy", "managedWordLists", "profanity"),
    ("sensitiveInformationPolicy", "piiEntities", "sensitive_information"),
    ("sensitiveInformationPolicy", "regexes", "sensitive_information"),
    ("contextualGroundingPolicy", "filters", "grounding"),
    ("automatedReasoningPolicy", "findings", "automated_reasoning"),
])
def test_guardrail_category_every_policy(policy: str, key: str, category: str) -> None:
    blocked = {policy: {key: [{"type": "X", "action": "NONE"},
                              {"type": "X", "action": "BLOCKED"}]}}
    assert common.guardrail_category({"guardrail": {"inputAssessment": {"g": blocked}}}) \
        == category
    # only detected (not blocked): no category
    seen = {policy: {key: [{"type": "X", "action": "NONE"}]}}
    assert common.guardrail_category({"guardrail": {"inputAssessment": {"g": seen}}}) is None


def test_guardrail_category_content_filter_is_its_type() -> None:
    def trace(item: dict[str, Any]) -> dict[str, Any]:
        return {"guardrail": {"inputAssessment": {"g": {"contentPolicy": {"filters": [
            {"type": "HATE", "action": "NONE"}, item]}}}}}

    assert common.guardrail_category(trace({"type": "PROMPT_ATTACK", "action": "BLOCKED"})) \
        == "prompt_attack"
    assert common.guardrail_category(trace({"type": 3, "action": "BLOCKED"})) == "guardrail"
    assert common.guardrail_category(trace({"action": "BLOCKED"})) == "guardrail"


def test_guardrail_category_first_blocking_policy_in_table_order() -> None:
    assessment = {
        "automatedReasoningPolicy": {"findings": [{"action": "BLOCKED"}]},
        "wordPolicy": {"customWords": [{"match": "x", "action": "BLOCKED"}]},
        "contentPolicy": {"filters": [{"type": "VIOLENCE", "action": "BLOCKED"}]},
    }
    trace = {"guardrail": {"inputAssessment": {"g": assessment}}}
    assert common.guardrail_category(trace) == "violence"
    del assessment["contentPolicy"]
    assert common.guardrail_category(trace) == "word_filter"


def _topic_blocked() -> dict[str, Any]:
    return {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}


def _words_blocked() -> dict[str, Any]:
    return {"wordPolicy": {"customWords": [{"action": "BLOCKED"}]}}


@pytest.mark.parametrize(("guardrail", "expected"), [
    # Converse: inputAssessment {id: …}, outputAssessments {id: [...]}
    ({"inputAssessment": {"g": _topic_blocked()}}, "denied_topic"),
    ({"outputAssessments": {"g": [{}, _words_blocked()]}}, "word_filter"),
    ({"outputAssessments": {"g": _words_blocked()}}, "word_filter"),
    # InvokeModel's amazon-bedrock-trace: input {id: …}, outputs [{id: …}]
    ({"input": {"g": _topic_blocked()}}, "denied_topic"),
    ({"outputs": [{"g": {}}, {"g": _words_blocked()}]}, "word_filter"),
    ({"outputs": ["x", {"g": _words_blocked()}]}, "word_filter"),
    # the input assessment is read first, then the outputs
    ({"outputAssessments": {"g": [_words_blocked()]}, "inputAssessment": {"g": _topic_blocked()}},
     "denied_topic"),
    ({"outputs": [{"g": _words_blocked()}], "input": {"g": _topic_blocked()}}, "denied_topic"),
    ({"inputAssessment": {"g": _topic_blocked()}, "input": {"g": _words_blocked()}},
     "denied_topic"),
    ({"inputAssessment": {"g": "x", "h": _words_blocked()}}, "word_filter"),
    ({"inputAssessment": ["x"]}, None),
    ({"outputAssessments": ["x"]}, None),
    ({"inputAssessment": {"g": {"topicPolicy": "x"}}}, None),
    ({"inputAssessment": {"g": {"topicPolicy": {"topics": "x"}}}}, None),
    ({"inputAssessment": {"g": {"topicPolicy": {"topics": ["x", {"action": "BLOCKED"}]}}}},
     "denied_topic"),
    ({}, None),
])
def test_guardrail_category_shapes(guardrail: dict[str, Any], expected: Any) -> None:
    assert common.guardrail_category({"guardrail": guardrail}) == expected


@pytest.mark.parametrize("trace", [None, "x", {}, {"guardrail": "x"}, {"guardrail": None}])
def test_guardrail_category_no_guardrail(trace: Any) -> None:
    assert common.guardrail_category(trace) is None


# --- common: stream members ---------------------------------------------------------------------

def test_wrap_member_replaces_the_member_and_reads_the_request_id() -> None:
    accumulator = converse.ConverseStreamAccumulator(None)  # type: ignore[arg-type]
    response = {"stream": "events", "ResponseMetadata": {"RequestId": "r-5"}}
    got = common.wrap_member(response, "stream", accumulator, lambda s: ("proxy", s))
    assert got is response and response["stream"] == ("proxy", "events")
    assert accumulator.new_result().response_id == "r-5"
    assert accumulator.new_result().attributes == {sc.AWS_REQUEST_ID: "r-5"}
    with pytest.raises(ValueError, match="no 'body' in the response"):
        common.wrap_member({"stream": 1}, "body", accumulator, lambda s: s)
    with pytest.raises(ValueError):
        common.wrap_member(None, "body", accumulator, lambda s: s)


def test_a_stream_accumulator_without_a_response_has_no_request_id() -> None:
    accumulator = converse.ConverseStreamAccumulator(None)  # type: ignore[arg-type]
    result = accumulator.new_result()
    assert result.response_id is None and result.attributes == {}


# --- families: InvokeModel bodies and chunks of every non-Anthropic family ---------------------

def fold(*payloads: dict[str, Any], result: Result | None = None) -> Result:
    family = families.FamilyFold()
    for payload in payloads:
        family.add(payload)
    result = result if result is not None else Result()
    family.apply(result)
    return result


def messages(result: Result) -> Any:
    assert result.output_messages is not None
    return result.output_messages()


def text(result: Result) -> Any:
    assert result.output_text is not None
    return result.output_text()


def assistant(text: str | None, finish: str | None, *extra: dict[str, Any]) -> dict[str, Any]:
    parts = [{"type": "text", "content": text}] if text else []
    message: dict[str, Any] = {"role": "assistant", "parts": [*parts, *extra]}
    if finish is not None:
        message["finish_reason"] = finish
    return message


def test_titan_body_several_results() -> None:
    result = fold({"inputTextTokenCount": 5, "results": [
        {"tokenCount": 9, "outputText": "one", "completionReason": "LENGTH"},
        "not a result",
        {"tokenCount": 4, "outputText": "two", "completionReason": "FINISH"},
    ]})
    assert result.finish_reasons == ["LENGTH", "FINISH"]
    assert usage(result) == (5, 13, None, None)
    assert messages(result) == [assistant("one", "length"), assistant("two", "stop")]
    assert text(result) == "onetwo"
    assert refusal(result) == NO_REFUSAL


def test_titan_body_counts_only_plausible_token_counts() -> None:
    result = fold({"inputTextTokenCount": 5, "results": [
        {"tokenCount": 9, "outputText": "a"}, {"tokenCount": -1, "outputText": "b"},
        {"tokenCount": 0, "outputText": "c"}]})
    assert usage(result) == (5, 9, None, None)
    assert result.finish_reasons == []
    assert messages(result) == [assistant("a", None), assistant("b", None), assistant("c", None)]
    # no count at all: the output count the headers gave stays
    held = Result(input_tokens=50, output_tokens=70)
    fold({"results": [{"tokenCount": "9", "outputText": "a"}]}, result=held)
    assert usage(held) == (50, 70, None, None)
    zero = Result(input_tokens=50, output_tokens=70)
    fold({"results": [{"tokenCount": 0}]}, result=zero)
    assert usage(zero) == (50, 0, None, None)


def test_titan_stream_chunks() -> None:
    result = fold({"outputText": "Hel", "index": 0.0},
                  {"outputText": "lo", "index": 0, "inputTextTokenCount": 3},
                  {"outputText": "", "index": 0, "completionReason": "FINISH",
                   "totalOutputTextTokenCount": 6})
    assert result.finish_reasons == ["FINISH"]
    assert usage(result) == (3, 6, None, None)
    assert messages(result) == [assistant("Hello", "stop")]
    assert text(result) == "Hello"


def test_titan_stream_chunks_of_two_indexes_in_index_order() -> None:
    result = fold({"outputText": "b", "index": 1.0, "completionReason": "LENGTH"},
                  {"outputText": "a", "index": "x", "completionReason": "FINISH"})
    assert result.finish_reasons == ["FINISH", "LENGTH"]
    assert messages(result) == [assistant("a", "stop"), assistant("b", "length")]
    assert text(result) == "ab"


def test_titan_content_filtered_is_a_refusal() -> None:
    result = fold({"inputTextTokenCount": 5, "results": [
        {"tokenCount": 0, "outputText": "", "completionReason": "CONTENT_FILTERED"}]})
    assert result.finish_reasons == ["CONTENT_FILTERED"]
    assert refusal(result) == (True, BY_FINISH, "content_filtered")
    assert messages(result) == [assistant(None, "content_filter")]
    assert usage(result) == (5, 0, None, None)


def test_llama_counts_are_the_last_seen() -> None:
    result = fold({"generation": "a", "prompt_token_count": 8, "generation_token_count": 1},
                  {"generation": "b", "prompt_token_count": None, "generation_token_count": 2},
                  {"generation": "", "generation_token_count": 35, "stop_reason": "stop"})
    assert result.finish_reasons == ["stop"]
    assert usage(result) == (8, 35, None, None)
    assert messages(result) == [assistant("ab", "stop")]


def test_llama_length() -> None:
    result = fold({"generation": "x", "prompt_token_count": 0, "generation_token_count": 0,
                   "stop_reason": "length"})
    assert usage(result) == (0, 0, None, None)
    assert messages(result) == [assistant("x", "length")]


def test_claude_text_completion() -> None:
    result = fold({"type": "completion", "completion": " x", "stop_reason": "stop_sequence"},
                  result=Result(input_tokens=11, output_tokens=7))
    assert result.finish_reasons == ["stop_sequence"]
    assert usage(result) == (11, 7, None, None)
    assert messages(result) == [assistant(" x", "stop")]
    assert result.response_id is None


def test_claude_text_max_tokens() -> None:
    result = fold({"completion": "y", "stop_reason": "max_tokens"})
    assert messages(result) == [assistant("y", "length")]


def test_cohere_command_r_body() -> None:
    result = fold({"response_id": "resp-r", "text": "x", "finish_reason": "COMPLETE",
                   "meta": {"billed_units": {"input_tokens": 12, "output_tokens": 3}}},
                  result=Result(input_tokens=11, output_tokens=7))
    assert result.response_id == "resp-r"
    assert result.finish_reasons == ["COMPLETE"]
    assert usage(result) == (12, 3, None, None)
    assert messages(result) == [assistant("x", "stop")]


def test_cohere_command_r_stream_end_meta() -> None:
    result = fold({"text": "a"},
                  {"is_finished": True, "finish_reason": "MAX_TOKENS",
                   "response": {"meta": {"billed_units": {"input_tokens": 4,
                                                           "output_tokens": 6}}}})
    assert result.finish_reasons == ["MAX_TOKENS"]
    assert usage(result) == (4, 6, None, None)
    assert messages(result) == [assistant("a", "length")]


def test_top_level_stop_reason_then_finish_reason() -> None:
    result = fold({"stop_reason": "a_stop", "finish_reason": "b_finish"})
    assert result.finish_reasons == ["b_finish"]
    result = fold({"stop_reason": "a_stop", "finish_reason": ""})
    assert result.finish_reasons == ["a_stop"]


def test_the_id_before_the_response_id_and_the_model() -> None:
    result = fold({"id": "id-1", "response_id": "resp-2", "model": "m-1"},
                  result=Result(response_id="req", response_model="asked"))
    assert (result.response_id, result.response_model) == ("id-1", "m-1")
    result = fold({"id": "", "response_id": "resp-2", "model": ""},
                  result=Result(response_id="req", response_model="asked"))
    assert (result.response_id, result.response_model) == ("resp-2", "asked")
    result = fold({"id": 1234}, result=Result(response_id="req"))
    assert result.response_id == "req"


def test_openai_compatible_choices() -> None:
    result = fold({"id": "chatcmpl-9", "model": "jamba-1.5-mini", "choices": [
        {"index": 1, "message": {"role": "assistant", "content": "second"},
         "finish_reason": "length"},
        {"index": 0, "message": {"role": "assistant", "content": "first", "tool_calls": [
            {"id": "call-1", "function": {"name": "get", "arguments": "{\"a\": 1}"}},
            {"id": 5, "function": {"name": "put", "arguments": "{}"}},
            {"id": "call-3", "function": {"name": "", "arguments": "{}"}},
            {"id": "call-4", "function": "x"},
            "x"]},
         "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}},
        result=Result(input_tokens=11, output_tokens=7))
    assert result.response_id == "chatcmpl-9" and result.response_model == "jamba-1.5-mini"
    assert result.finish_reasons == ["tool_calls", "length"]
    assert usage(result) == (20, 3, None, None)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call-1", "get", "{\"a\": 1}"), (None, "put", "{}")]
    assert messages(result) == [
        assistant("first", "tool_call",
                  {"type": "tool_call", "name": "get", "id": "call-1", "arguments": {"a": 1}},
                  {"type": "tool_call", "name": "put", "arguments": {}}),
        assistant("second", "length")]
    assert text(result) == "firstsecond"
    assert refusal(result) == NO_REFUSAL


def test_choices_stop_reason_when_no_finish_reason() -> None:
    result = fold({"choices": [{"message": {"content": "x"}, "finish_reason": None,
                                "stop_reason": "stop"},
                               {"text": "y", "finish_reason": "", "stop_reason": "length"}]})
    assert result.finish_reasons == ["stop", "length"]
    assert messages(result) == [assistant("x", "stop"), assistant("y", "length")]


def test_choices_stream_deltas_without_tool_calls() -> None:
    result = fold({"choices": [{"index": 0, "delta": {"content": "He", "tool_calls": [
                      {"id": "c", "function": {"name": "get", "arguments": "{}"}}]}}]},
                  {"choices": [{"index": 0, "delta": {"content": "llo"},
                                "finish_reason": "stop"}]})
    assert result.tool_calls == []
    assert messages(result) == [assistant("Hello", "stop")]


def test_choices_content_filter_is_a_refusal() -> None:
    result = fold({"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]})
    assert refusal(result) == (True, BY_FINISH, "content_filtered")
    assert messages(result) == [assistant("x", "content_filter")]


def test_mistral_text_outputs() -> None:
    result = fold({"outputs": [{"text": "a", "stop_reason": "stop"},
                               {"text": "b", "stop_reason": "length"}]},
                  result=Result(input_tokens=11, output_tokens=7))
    assert result.finish_reasons == ["stop", "length"]
    assert usage(result) == (11, 7, None, None)
    assert messages(result) == [assistant("a", "stop"), assistant("b", "length")]


def test_cohere_command_generations() -> None:
    result = fold({"id": "gen-a", "generations": [
        {"id": "g1", "text": "x", "finish_reason": "COMPLETE", "index": 0},
        {"id": "g2", "text": "y", "finish_reason": "MAX_TOKENS", "index": 1}]})
    assert result.response_id == "gen-a"
    assert result.finish_reasons == ["COMPLETE", "MAX_TOKENS"]
    assert messages(result) == [assistant("x", "stop"), assistant("y", "length")]


def test_cohere_error_toxic_is_a_refusal() -> None:
    result = fold({"generations": [{"text": "x", "finish_reason": "ERROR_TOXIC"}]})
    assert refusal(result) == (True, BY_FINISH, "content_filtered")
    assert messages(result) == [assistant("x", "content_filter")]


def test_ai21_jurassic_completions() -> None:
    result = fold({"id": 1234, "completions": [
        {"data": {"text": "a"}, "finishReason": {"reason": "endoftext"}},
        {"data": {"text": "b"}, "finishReason": {"reason": "length", "length": 5}},
        {"data": "x", "finishReason": "stop"}]})
    assert result.response_id is None
    assert result.finish_reasons == ["endoftext", "length", "stop"]
    assert messages(result) == [assistant("a", "stop"), assistant("b", "length"),
                                assistant(None, "stop")]


@pytest.mark.parametrize(("reason", "category"), [
    ("content_filtered", "content_filtered"), ("CONTENT_FILTER", "content_filtered"),
    ("Error_Toxic", "content_filtered"), ("guardrail_intervened", "guardrail"),
    ("GUARDRAIL_INTERVENED", "guardrail"),
])
def test_every_filtering_finish_reason_in_any_case(reason: str, category: str) -> None:
    result = fold({"completion": "x", "stop_reason": reason})
    assert result.finish_reasons == [reason]
    assert refusal(result) == (True, BY_FINISH, category)


def test_guardrail_intervened_finish_reason_reads_the_trace() -> None:
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    result = fold({"completion": "x", "stop_reason": "guardrail_intervened",
                   "amazon-bedrock-trace": trace})
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


def test_the_first_refusing_choice_decides() -> None:
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    result = fold({"amazon-bedrock-trace": trace, "choices": [
        {"message": {"content": "a"}, "finish_reason": "stop"},
        {"message": {"content": "b"}, "finish_reason": "content_filter"},
        {"message": {"content": "c"}, "finish_reason": "guardrail_intervened"}]})
    assert refusal(result) == (True, BY_FINISH, "content_filtered")
    result = fold({"amazon-bedrock-trace": trace, "choices": [
        {"message": {"content": "a"}, "finish_reason": "guardrail_intervened"},
        {"message": {"content": "b"}, "finish_reason": "content_filter"}]})
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


@pytest.mark.parametrize("reason", ["stop", "error", "length", "guardrail", "content"])
def test_other_finish_reasons_are_no_refusal(reason: str) -> None:
    assert refusal(fold({"completion": "x", "stop_reason": reason})) == NO_REFUSAL


def test_guardrail_action_intervened_is_a_refusal() -> None:
    trace = {"guardrail": {"outputs": [{"g": {"wordPolicy": {"managedWordLists": [
        {"action": "BLOCKED"}]}}}]}}
    result = fold({"completion": "x", "stop_reason": "end_turn",
                   "amazon-bedrock-guardrailAction": "INTERVENED",
                   "amazon-bedrock-trace": trace})
    assert result.finish_reasons == ["end_turn"]
    assert refusal(result) == (True, BY_FINISH, "profanity")
    for action in ("NONE", "intervened", None):
        assert refusal(fold({"completion": "x", "amazon-bedrock-guardrailAction": action})) \
            == NO_REFUSAL


def test_guardrail_action_keeps_a_refusal_the_finish_reason_gave() -> None:
    result = fold({"completion": "x", "stop_reason": "content_filtered",
                   "amazon-bedrock-guardrailAction": "INTERVENED"})
    assert refusal(result) == (True, BY_FINISH, "content_filtered")


def test_guardrail_action_on_an_earlier_chunk_and_the_trace_on_a_later_one() -> None:
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    result = fold({"completion": "a", "amazon-bedrock-guardrailAction": "INTERVENED"},
                  {"completion": "b", "amazon-bedrock-guardrailAction": "NONE",
                   "amazon-bedrock-trace": trace},
                  {"completion": "c", "amazon-bedrock-trace": {}})
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


def test_bedrock_keys_are_read_from_every_payload() -> None:
    family = families.FamilyFold()
    family.add_bedrock_keys({"amazon-bedrock-invocationMetrics": {"inputTokenCount": 1}})
    assert family.metrics == {"inputTokenCount": 1}
    assert family.guardrail is False and family.trace is None
    family.add_bedrock_keys({"amazon-bedrock-trace": "x"})
    assert family.trace is None
    family.add_bedrock_keys({"amazon-bedrock-invocationMetrics": None})
    assert family.metrics is None


def test_a_value_of_the_wrong_type_costs_only_itself() -> None:
    result = fold({"generation": 5, "prompt_token_count": "8", "generation_token_count": 35,
                   "stop_reason": 3, "choices": "x", "outputs": [5, {"text": "a"}],
                   "usage": "x", "meta": {"billed_units": "x"}})
    assert result.finish_reasons == []
    assert usage(result) == (None, 35, None, None)
    assert messages(result) == [assistant("a", None)]


def test_counts_from_usage_and_headers() -> None:
    # a body with only an input count: the header's output count stays
    result = fold({"usage": {"prompt_tokens": 20}}, result=Result(input_tokens=11,
                                                                  output_tokens=7))
    assert usage(result) == (20, 7, None, None)
    result = fold({"usage": {"completion_tokens": 2}}, result=Result(input_tokens=11,
                                                                     output_tokens=7))
    assert usage(result) == (11, 2, None, None)


# --- families: Nova (the Converse shapes) -------------------------------------------------------

NOVA_USAGE = {"inputTokens": 30, "outputTokens": 10, "cacheReadInputTokenCount": 4,
              "cacheWriteInputTokenCount": 6}


def test_nova_body() -> None:
    result = fold({"output": {"message": {"role": "assistant", "content": [
        {"text": "x"}, "bad", {"toolUse": {"toolUseId": "t1", "name": "get",
                                           "input": {"a": 1}}}]}},
        "stopReason": "tool_use", "usage": NOVA_USAGE},
        result=Result(input_tokens=11, output_tokens=7))
    assert result.finish_reasons == ["tool_use"]
    assert usage(result) == (40, 10, 4, 6)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("t1", "get", {"a": 1})]
    assert messages(result) == [assistant(
        "x", "tool_call", {"type": "tool_call", "name": "get", "id": "t1", "arguments": {"a": 1}})]
    assert text(result) == "x"


@pytest.mark.parametrize(("nova_usage", "expected"), [
    ({"inputTokens": 30}, (30, 7, None, None)),
    ({"outputTokens": 10}, (11, 10, None, None)),
    ({"inputTokens": 30, "cacheReadInputTokenCount": 4}, (34, 7, 4, None)),
    ({"inputTokens": 30, "cacheWriteInputTokenCount": 6}, (36, 7, None, 6)),
    ({"inputTokens": -3, "outputTokens": 1.5}, (11, 7, None, None)),
    ("x", (11, 7, None, None)),
])
def test_nova_body_usage_fields(nova_usage: Any, expected: tuple[Any, ...]) -> None:
    result = fold({"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": "end_turn",
                   "usage": nova_usage}, result=Result(input_tokens=11, output_tokens=7))
    assert usage(result) == expected
    assert messages(result) == [assistant("x", "stop")]


def test_nova_body_without_content() -> None:
    result = fold({"output": {"message": "x"}, "stopReason": "max_tokens"})
    assert result.finish_reasons == ["max_tokens"]
    assert messages(result) == [assistant(None, "length")]
    result = fold({"output": {"message": {"content": "x"}}})
    assert result.finish_reasons == [] and messages(result) == [assistant(None, None)]


def test_nova_body_content_filtered_and_guardrail() -> None:
    result = fold({"output": {"message": {"content": []}}, "stopReason": "content_filtered"})
    assert refusal(result) == (True, BY_FINISH, "content_filtered")
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    result = fold({"output": {"message": {"content": [{"text": "{NAME}"}]}},
                   "stopReason": "end_turn", "amazon-bedrock-guardrailAction": "INTERVENED",
                   "amazon-bedrock-trace": trace})
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


def test_nova_body_guardrail_intervened_reads_the_trace() -> None:
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    result = fold({"output": {"message": {"content": []}}, "stopReason": "guardrail_intervened",
                   "amazon-bedrock-trace": trace})
    assert result.finish_reasons == ["guardrail_intervened"]
    assert refusal(result) == (True, BY_FINISH, "denied_topic")


def test_nova_stream_chunks() -> None:
    result = fold({"messageStart": {"role": "assistant"}},
                  {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
                  {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
                  {"contentBlockStop": {"contentBlockIndex": 0}},
                  {"messageStop": {"stopReason": "max_tokens"}},
                  {"metadata": {"usage": NOVA_USAGE}},
                  {"metadata": {"usage": "x"}},
                  result=Result(input_tokens=11, output_tokens=7))
    assert result.finish_reasons == ["max_tokens"]
    assert usage(result) == (40, 10, 4, 6)
    assert messages(result) == [assistant("Hello", "length")]
    assert text(result) == "Hello"
    assert refusal(result) == NO_REFUSAL


def test_nova_stream_tool_call_and_refusal() -> None:
    result = fold({"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": "get"}},
                                         "contentBlockIndex": 0}},
                  {"contentBlockDelta": {"delta": {"toolUse": {"input": "{\"a\": 1}"}},
                                         "contentBlockIndex": 0}},
                  {"messageStop": {"stopReason": "guardrail_intervened"}},
                  {"metadata": {}})
    assert result.finish_reasons == ["guardrail_intervened"]
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("t1", "get", "{\"a\": 1}")]
    assert refusal(result) == (True, BY_FINISH, "guardrail")
    assert usage(result) == (None, None, None, None)


# --- converse ---------------------------------------------------------------------------------------

CLIENT = SimpleNamespace(meta=SimpleNamespace(endpoint_url="https://bedrock.example"))


def test_converse_request() -> None:
    params = {
        "modelId": "amazon.nova-pro-v1:0",
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 0.9,
                            "stopSequences": ["END"]},
        "additionalModelRequestFields": {"top_k": 40},
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"},
        "system": [{"text": "be brief"}, {"cachePoint": {}}, {"text": 5}, "x"],
        "messages": [{"role": "user", "content": [{"text": "hi"}, {"text": " there"},
                                                  {"image": {}}]},
                     {"content": [{"text": "no role"}]}, "x"],
        "toolConfig": {"tools": [
            {"toolSpec": {"name": "get", "description": "Get it",
                          "inputSchema": {"json": {"type": "object"}}}},
            {"toolSpec": {"name": "put", "inputSchema": "x"}},
            {"toolSpec": {"name": 5}}, {"cachePoint": {}}, "x"]},
    }
    built = converse.build_request(CLIENT, ("Converse", params), {})
    assert (built.operation, built.provider, built.model, built.stream) == (
        sc.OP_CHAT, sc.PROVIDER_AWS_BEDROCK, "amazon.nova-pro-v1:0", False)
    assert built.attributes == {
        sc.SERVER_ADDRESS: "bedrock.example", sc.SERVER_PORT: 443,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100, sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_P: 0.9, sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        sc.GEN_AI_REQUEST_TOP_K: 40, sc.AWS_BEDROCK_GUARDRAIL_ID: "gr-1"}
    assert built.declared_tools == {"get": {"type": "object"}, "put": None}
    assert built.system_texts == ["be brief"]
    assert built.input_messages and built.input_messages() == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"},
                                   {"type": "text", "content": " there"}, {"type": "image"}]},
        {"role": "user", "parts": [{"type": "text", "content": "no role"}]}]
    assert built.tool_definitions and built.tool_definitions() == [
        {"type": "function", "name": "get", "description": "Get it",
         "parameters": {"type": "object"}},
        {"type": "function", "name": "put"}]
    # (a message that is not one adds an empty line)
    assert built.prompt_text and built.prompt_text() == "be brief\nhi there\nno role\n"
    assert built.error_type is common.error_code
    streamed = converse.build_request(CLIENT, (), {"operation_name": "ConverseStream",
                                                   "api_params": {
        "modelId": "", "additionalModelRequestFields": {"topK": 7},
        "toolConfig": {"tools": [{"cachePoint": {}}]}}})
    assert streamed.stream is True and streamed.model is None
    assert streamed.attributes[sc.GEN_AI_REQUEST_TOP_K] == 7
    assert streamed.declared_tools is None and streamed.system_texts == []
    assert streamed.tool_definitions and streamed.tool_definitions() == []
    bare = converse.build_request(CLIENT, ("Converse", {"toolConfig": {"tools": []},
                                                         "messages": "xy", "system": "x"}), {})
    assert bare.tool_definitions is None and bare.input_messages and bare.input_messages() == []
    assert bare.prompt_text and bare.prompt_text() == ""
    for tools in ("x", {"toolSpec": {"name": "a"}}):
        odd = converse.build_request(CLIENT, ("Converse", {"toolConfig": {"tools": tools}}), {})
        assert odd.tool_definitions is None and odd.declared_tools is None
    assert bare.attributes == {sc.SERVER_ADDRESS: "bedrock.example", sc.SERVER_PORT: 443}


@pytest.mark.parametrize(("block", "part"), [
    ({"text": "t"}, {"type": "text", "content": "t"}),
    ({"toolUse": {"toolUseId": "u1", "name": "get", "input": {"a": 1}}},
     {"type": "tool_call", "name": "get", "id": "u1", "arguments": {"a": 1}}),
    ({"toolUse": None}, {"type": "tool_call", "name": None, "arguments": None}),
    ({"toolResult": {"toolUseId": "u1", "content": [{"text": "a"}, {"text": "b"}]}},
     {"type": "tool_call_response", "response": "ab", "id": "u1"}),
    ({"toolResult": {"toolUseId": "u2", "content": [{"text": "a"}, {"json": {"j": 1}},
                                                     {"image": {}}, {}, "x"]}},
     {"type": "tool_call_response", "response": ["a", {"j": 1}, {"type": "image"},
                                                  {"type": "unknown"}], "id": "u2"}),
    ({"toolResult": {"content": [{"text": "a"}, 5]}},
     {"type": "tool_call_response", "response": ["a"]}),
    ({"toolResult": {"content": "plain"}}, {"type": "tool_call_response", "response": "plain"}),
    ({"toolResult": None}, {"type": "tool_call_response", "response": None}),
    ({"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}},
     {"type": "reasoning", "content": "hm"}),
    ({"reasoningContent": None}, {"type": "reasoning", "content": None}),
    ({"guardContent": {"text": {"text": "g"}}}, {"type": "text", "content": "g"}),
    ({"guardContent": None}, {"type": "text", "content": None}),
    ({"document": {"name": "d"}}, {"type": "document"}),
    ({"video": {}}, {"type": "video"}),
    ({"audio": {}}, {"type": "audio"}),
    ({"citationsContent": {}}, {"type": "citationsContent"}),
    ({"searchResult": {}}, {"type": "searchResult"}),
    ({"somethingNew": {}, "image": {}}, {"type": "image"}),
    ({"somethingNew": {}}, {"type": "somethingNew"}),
    ({}, {"type": "unknown"}),
])
def test_content_parts_every_block(block: dict[str, Any], part: dict[str, Any]) -> None:
    assert converse.content_parts(["x", block, {"cachePoint": {}}, None]) == [part]


def test_content_parts_of_no_list() -> None:
    assert converse.content_parts("x") == [] and converse.content_parts(None) == []


def converse_response(**fields: Any) -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": "req-1"},
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hm"}}},
                {"text": "a"},
                {"toolUse": {"toolUseId": "u1", "name": "get", "input": {"k": 1}}},
                {"toolUse": {"toolUseId": "u2"}},
                {"text": "b"}, "x"]}}, **fields}


STOPS = ["end_turn", "tool_use", "max_tokens", "stop_sequence", "guardrail_intervened",
         "content_filtered", "model_context_window_exceeded"]


@pytest.mark.parametrize("stop", STOPS)
def test_converse_response_every_stop_reason(stop: str) -> None:
    result = converse.parse_response(converse_response(
        stopReason=stop, usage={"inputTokens": 10, "outputTokens": 5,
                                "cacheReadInputTokens": 3, "cacheWriteInputTokens": 2}),
        None)  # type: ignore[arg-type]
    assert result.finish_reasons == [stop]
    assert result.response_id == "req-1"
    assert result.attributes == {sc.AWS_REQUEST_ID: "req-1"}
    assert usage(result) == (15, 5, 3, 2)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("u1", "get", {"k": 1}), ("u2", "", None)]
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "finish_reason": SCHEMA_FINISH[stop], "parts": [
            {"type": "reasoning", "content": "hm"}, {"type": "text", "content": "a"},
            {"type": "tool_call", "name": "get", "id": "u1", "arguments": {"k": 1}},
            {"type": "tool_call", "name": None, "id": "u2", "arguments": None},
            {"type": "text", "content": "b"}]}]
    assert result.output_text and result.output_text() == "ab"
    expected = {"guardrail_intervened": (True, BY_FINISH, "guardrail"),
                "content_filtered": (True, BY_FINISH, "content_filtered")}
    assert refusal(result) == expected.get(stop, NO_REFUSAL)


def test_converse_response_guardrail_trace() -> None:
    trace = {"guardrail": {"outputAssessments": {"g": [{"sensitiveInformationPolicy": {
        "regexes": [{"action": "BLOCKED"}]}}]}}}
    result = converse.parse_response(converse_response(stopReason="guardrail_intervened",
                                                       trace=trace), None)  # type: ignore[arg-type]
    assert refusal(result) == (True, BY_FINISH, "sensitive_information")


def test_converse_response_without_a_stop_reason_or_message() -> None:
    for stop in ("", None, 5):
        result = converse.parse_response({"stopReason": stop}, None)  # type: ignore[arg-type]
        assert result.finish_reasons == [] and result.response_id is None
        assert result.output_messages and result.output_messages() == [
            {"role": "assistant", "parts": []}]
        assert usage(result) == (None, None, None, None)
    result = converse.parse_response({"output": {"message": {"content": "x"}}},
                                     None)  # type: ignore[arg-type]
    assert result.output_text and result.output_text() == ""
    result = converse.parse_response({"output": "x"}, None)  # type: ignore[arg-type]
    assert result.output_text and result.output_text() == ""


def converse_stream(*events: Any, response: Any = None) -> Result:
    accumulator = converse.ConverseStreamAccumulator(None)  # type: ignore[arg-type]
    if response is not None:
        accumulator.read_response(response)
    for event in events:
        accumulator.add(event)
    return accumulator.result()


def test_converse_stream_blocks_in_index_order() -> None:
    result = converse_stream(
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "h"}},
                               "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "m"}},
                               "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"signature": "s"}},
                               "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": None}, "contentBlockIndex": 0}},
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "u1", "name": "get"}},
                               "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": "{\"k\":"}},
                               "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": ""}}, "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": None}, "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": " 1}"}}, "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"text": "He"}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"text": "llo"}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {}, "contentBlockIndex": 1}},
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "u2", "name": "put"}},
                               "contentBlockIndex": 3}},
        {"contentBlockStart": {"start": {}, "contentBlockIndex": 4}},
        {"contentBlockStart": {"start": None}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 10, "outputTokens": 5}, "metrics": {}}},
        "not an event",
        response={"ResponseMetadata": {"RequestId": "req-7"}})
    assert result.response_id == "req-7"
    assert result.finish_reasons == ["tool_use"]
    assert usage(result) == (10, 5, None, None)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("u1", "get", "{\"k\": 1}"), ("u2", "put", "{}")]
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "reasoning", "content": "hm"},
            {"type": "text", "content": "Hello"},
            {"type": "tool_call", "name": "get", "id": "u1", "arguments": {"k": 1}},
            {"type": "tool_call", "name": "put", "id": "u2", "arguments": {}}]}]
    assert result.output_text and result.output_text() == "Hello"


def test_converse_stream_text_without_an_index_and_the_guardrail_trace() -> None:
    trace = {"guardrail": {"inputAssessment": {"g": {"contentPolicy": {"filters": [
        {"type": "MISCONDUCT", "action": "BLOCKED"}]}}}}}
    result = converse_stream(
        {"contentBlockDelta": {"delta": {"text": "a"}}},
        {"contentBlockDelta": {"delta": {"text": "b"}, "contentBlockIndex": "1"}},
        {"contentBlockDelta": {"delta": None}},
        {"messageStop": {"stopReason": "guardrail_intervened"}},
        {"metadata": {"usage": {"inputTokens": 3}, "trace": trace}})
    assert result.output_text and result.output_text() == "ab"
    assert refusal(result) == (True, BY_FINISH, "misconduct")
    assert usage(result) == (3, None, None, None)
    assert result.response_id is None


def test_converse_stream_each_delta_in_its_own_block() -> None:
    result = converse_stream(
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "u1", "name": "get"}},
                               "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "r"}},
                               "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 0}})
    assert result.output_messages and result.output_messages()[0]["parts"] == [
        {"type": "tool_call", "name": "get", "id": "u1", "arguments": {}},
        {"type": "text", "content": "a"}, {"type": "reasoning", "content": "r"}]


def test_converse_stream_a_delta_without_an_index_is_block_0() -> None:
    result = converse_stream(
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "r"}}}},
        {"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "b"}, "contentBlockIndex": 1}})
    assert result.output_messages and result.output_messages()[0]["parts"] == [
        {"type": "reasoning", "content": "r"}, {"type": "text", "content": "a"},
        {"type": "text", "content": "b"}]


def test_converse_stream_no_events() -> None:
    result = converse_stream()
    assert result.finish_reasons == [] and usage(result) == (None, None, None, None)
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "parts": []}]


def test_converse_wrap_stream() -> None:
    accumulator = converse.ConverseStreamAccumulator(None)  # type: ignore[arg-type]
    response = {"stream": [1], "ResponseMetadata": {"RequestId": "r"}}
    assert converse.wrap_stream(response, accumulator, lambda s: ("p", s))["stream"] == ("p", [1])
    with pytest.raises(ValueError, match="no 'stream'"):
        converse.wrap_stream({"body": 1}, accumulator, lambda s: s)


# --- invoke --------------------------------------------------------------------------------------------

def invoke_request(params: dict[str, Any], operation: str = "InvokeModel") -> Any:
    body = params.get("body")
    mapping = (invoke.build_anthropic_request if invoke.is_anthropic_body(body)
               else invoke.build_generic_request)
    return mapping(CLIENT, (operation, params), {})


SERVER = {sc.SERVER_ADDRESS: "bedrock.example", sc.SERVER_PORT: 443}


@pytest.mark.parametrize(("body", "expected"), [
    ({"max_tokens": 10, "temperature": 0.1, "top_p": 0.2, "top_k": 3, "stop": ["x"]},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 10, sc.GEN_AI_REQUEST_TEMPERATURE: 0.1,
      sc.GEN_AI_REQUEST_TOP_P: 0.2, sc.GEN_AI_REQUEST_TOP_K: 3,
      sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["x"]}),
    ({"max_gen_len": 11}, {sc.GEN_AI_REQUEST_MAX_TOKENS: 11}),
    ({"max_tokens_to_sample": 12, "stop_sequences": ["\n\nHuman:"]},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 12, sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["\n\nHuman:"]}),
    ({"maxTokens": 13, "topP": 0.3, "stopSequences": ["s"]},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 13, sc.GEN_AI_REQUEST_TOP_P: 0.3,
      sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["s"]}),
    ({"p": 0.4, "k": 5}, {sc.GEN_AI_REQUEST_TOP_P: 0.4, sc.GEN_AI_REQUEST_TOP_K: 5}),
    # the first key of the table wins
    ({"max_tokens": 10, "max_gen_len": 11, "p": 0.4, "top_p": 0.2, "k": 5, "top_k": 6},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 10, sc.GEN_AI_REQUEST_TOP_P: 0.4,
      sc.GEN_AI_REQUEST_TOP_K: 5}),
    ({"textGenerationConfig": {"maxTokenCount": 14, "temperature": 0.5, "topP": 0.6,
                               "stopSequences": ["t"]}},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 14, sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
      sc.GEN_AI_REQUEST_TOP_P: 0.6, sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["t"]}),
    ({"inferenceConfig": {"max_new_tokens": 15, "temperature": 0.7, "top_p": 0.8,
                          "top_k": 9, "stopSequences": ["n"]}},
     {sc.GEN_AI_REQUEST_MAX_TOKENS: 15, sc.GEN_AI_REQUEST_TEMPERATURE: 0.7,
      sc.GEN_AI_REQUEST_TOP_P: 0.8, sc.GEN_AI_REQUEST_TOP_K: 9,
      sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["n"]}),
    # the first stop list given wins; an empty one is passed over
    ({"stop_sequences": [], "stop": ["b"], "stopSequences": ["c"]},
     {sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["b"]}),
    ({"stop_sequences": ["a"], "stop": ["b"]}, {sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["a"]}),
    ({"textGenerationConfig": "x", "inferenceConfig": 5}, {}),
])
def test_generic_request_parameters(body: dict[str, Any], expected: dict[str, Any]) -> None:
    built = invoke_request({"modelId": "meta.llama3", "body": json.dumps(body)})
    assert (built.operation, built.provider, built.model, built.stream) == (
        sc.OP_CHAT, sc.PROVIDER_AWS_BEDROCK, "meta.llama3", False)
    assert built.attributes == {**SERVER, **expected}
    assert built.error_type is common.error_code


def test_generic_request_keyword_arguments_and_no_model() -> None:
    built = invoke.build_generic_request(CLIENT, (), {
        "operation_name": "InvokeModelWithResponseStream",
        "api_params": {"modelId": "m", "body": json.dumps({"max_gen_len": 4})}})
    assert (built.model, built.stream) == ("m", True)
    assert built.attributes == {**SERVER, sc.GEN_AI_REQUEST_MAX_TOKENS: 4}
    for model in ("", 5, None):
        built = invoke_request({"modelId": model, "body": json.dumps({"max_gen_len": 4,
                                                                     "dimensions": 3})})
        assert (built.operation, built.model) == (sc.OP_CHAT, None)
        assert built.attributes == {**SERVER, sc.GEN_AI_REQUEST_MAX_TOKENS: 4}


def test_generic_request_embeddings() -> None:
    body = json.dumps({"inputText": "x", "dimensions": 256, "max_tokens": 3, "stop": ["x"]})
    built = invoke_request({"modelId": "amazon.titan-EMBED-text-v2:0", "body": body,
                            "guardrailIdentifier": "gr-9"})
    assert built.operation == sc.OP_EMBEDDINGS
    assert built.attributes == {**SERVER, sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 256,
                                sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["x"],
                                sc.AWS_BEDROCK_GUARDRAIL_ID: "gr-9"}


@pytest.mark.parametrize("body", [b"not json", b"[1]", io.BytesIO(b"{}"), None,
                                  b"{" + b" " * invoke.MAX_BODY_PARSE + b"}"])
def test_generic_request_of_an_unread_body(body: Any) -> None:
    built = invoke_request({"modelId": "m", "body": body}, "InvokeModelWithResponseStream")
    assert built.attributes == SERVER and built.stream is True and built.model == "m"


def test_a_body_at_the_parse_limit_is_read() -> None:
    body = b'{"max_tokens": 7}'
    body = body[:-1] + b" " * (invoke.MAX_BODY_PARSE - len(body)) + b"}"
    assert len(body) == invoke.MAX_BODY_PARSE
    built = invoke_request({"modelId": "m", "body": body})
    assert built.attributes == {**SERVER, sc.GEN_AI_REQUEST_MAX_TOKENS: 7}


def test_is_anthropic_body() -> None:
    assert invoke.is_anthropic_body(b'{"anthropic_version": "x"}')
    assert invoke.is_anthropic_body(bytearray(b'{"anthropic_version": "x"}'))
    assert invoke.is_anthropic_body('{"anthropic_version": "x"}')
    assert not invoke.is_anthropic_body(b'{"anthropic_versionx": 1}')
    assert not invoke.is_anthropic_body({"anthropic_version": "x"})


def test_anthropic_request() -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                       "system": "sys", "messages": [{"role": "user", "content": "hi"}]})
    built = invoke_request({"modelId": "anthropic.claude", "body": body,
                            "guardrailIdentifier": "gr-1"}, "InvokeModelWithResponseStream")
    assert (built.operation, built.model, built.stream) == (sc.OP_CHAT, "anthropic.claude", True)
    assert built.attributes == {**SERVER, sc.AWS_BEDROCK_GUARDRAIL_ID: "gr-1",
                                sc.GEN_AI_REQUEST_MAX_TOKENS: 50}
    assert built.system_texts == ["sys"]
    assert built.error_type is common.error_code
    # keyword arguments
    built = invoke.build_anthropic_request(CLIENT, (), {
        "operation_name": "InvokeModel", "api_params": {"modelId": "anthropic.claude",
                                                        "body": body}})
    assert (built.model, built.stream, built.system_texts) == ("anthropic.claude", False, ["sys"])
    # the substring matched, the body is no Messages body: read as any body
    built = invoke_request({"modelId": "m", "body": json.dumps(
        {"prompt": "anthropic_version", "max_tokens_to_sample": 9, "messages": "x",
         "anthropic_version": 1})}, "InvokeModelWithResponseStream")
    assert built.attributes == {**SERVER, sc.GEN_AI_REQUEST_MAX_TOKENS: 9}
    assert (built.operation, built.model, built.stream) == (sc.OP_CHAT, "m", True)
    assert built.system_texts == []


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def invoke_response(body: Any, headers: dict[str, str] | None = None,
                    content_type: str = "application/json") -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": "req-1", "HTTPHeaders": headers or {}},
            "contentType": content_type,
            "body": _Body(json.dumps(body).encode() if not isinstance(body, bytes) else body)}


HEADERS = {"x-amzn-bedrock-input-token-count": "11", "x-amzn-bedrock-output-token-count": "7",
           "x-amzn-bedrock-cache-read-input-token-count": "3",
           "x-amzn-bedrock-cache-write-input-token-count": "2"}


@pytest.mark.parametrize(("headers", "expected"), [
    (HEADERS, (16, 7, 3, 2)),
    ({"x-amzn-bedrock-input-token-count": "11"}, (11, None, None, None)),
    ({"x-amzn-bedrock-output-token-count": "7"}, (None, 7, None, None)),
    ({"x-amzn-bedrock-cache-read-input-token-count": "3"}, (None, None, None, None)),
    ({}, (None, None, None, None)),
])
def test_header_usage(headers: dict[str, str], expected: tuple[Any, ...]) -> None:
    response = invoke_response({"completion": "x"}, headers)
    result = invoke.parse_response(response, None)  # type: ignore[arg-type]
    assert usage(result) == expected
    assert result.response_id == "req-1"
    assert result.attributes == {sc.AWS_REQUEST_ID: "req-1"}
    assert json.loads(response["body"].read()) == {"completion": "x"}


def test_the_body_counts_win_over_the_headers() -> None:
    result = invoke.parse_response(invoke_response(
        {"generation": "x", "prompt_token_count": 8, "generation_token_count": 35,
         "stop_reason": "stop"}, HEADERS), None)  # type: ignore[arg-type]
    assert usage(result) == (8, 35, 3, 2)
    assert result.finish_reasons == ["stop"]


def test_anthropic_body_response() -> None:
    body = {"type": "message", "id": "msg_1", "model": "claude-x", "role": "assistant",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 20, "output_tokens": 4, "cache_read_input_tokens": 5,
                      "cache_creation_input_tokens": 6}}
    result = invoke.parse_response(invoke_response(body, HEADERS), None)  # type: ignore[arg-type]
    assert (result.response_id, result.response_model) == ("msg_1", "claude-x")
    assert result.attributes[sc.AWS_REQUEST_ID] == "req-1"
    assert result.finish_reasons == ["max_tokens"]
    assert usage(result) == (31, 4, 5, 6)  # the body's counts win over the headers
    assert refusal(result) == NO_REFUSAL
    trace = {"guardrail": {"input": {"g": {"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}}}}
    body = {**body, "stop_reason": "end_turn", "amazon-bedrock-guardrailAction": "INTERVENED",
            "amazon-bedrock-trace": trace}
    result = invoke.parse_response(invoke_response(body), None)  # type: ignore[arg-type]
    assert refusal(result) == (True, BY_FINISH, "denied_topic")
    body["amazon-bedrock-guardrailAction"] = "NONE"
    result = invoke.parse_response(invoke_response(body), None)  # type: ignore[arg-type]
    assert refusal(result) == NO_REFUSAL
    body = {**body, "stop_reason": "refusal", "amazon-bedrock-guardrailAction": "INTERVENED"}
    result = invoke.parse_response(invoke_response(body), None)  # type: ignore[arg-type]
    assert refusal(result) == (True, BY_FINISH, None)  # the stop reason's refusal stays


@pytest.mark.parametrize("response", [
    {"ResponseMetadata": {"RequestId": "req-1"}, "contentType": "text/plain",
     "body": _Body(b"{}")},
    {"ResponseMetadata": {"RequestId": "req-1"}, "contentType": "application/json"},
    {"ResponseMetadata": {"RequestId": "req-1"}, "contentType": "application/json",
     "body": b"{}"},
    {"ResponseMetadata": {"RequestId": "req-1"}, "contentType": "application/json",
     "body": _Body(b"[1]")},
    {"ResponseMetadata": {"RequestId": "req-1"}, "contentType": "application/json",
     "body": _Body(b"not json")},
])
def test_bodies_not_read(response: dict[str, Any]) -> None:
    result = invoke.parse_response(response, None)  # type: ignore[arg-type]
    assert result.response_id == "req-1" and result.finish_reasons == []
    assert result.output_messages is None


def test_a_response_body_at_the_parse_limit_is_read() -> None:
    data = b'{"completion": "x", "stop_reason": "stop_sequence"}'
    data = data[:-1] + b" " * (invoke.MAX_BODY_PARSE - len(data)) + b"}"
    result = invoke.parse_response(invoke_response(data), None)  # type: ignore[arg-type]
    assert result.finish_reasons == ["stop_sequence"]
    result = invoke.parse_response(invoke_response(data[:-1] + b" }"),
                                   None)  # type: ignore[arg-type]
    assert result.finish_reasons == []


def test_a_failed_body_read_is_raised_again_to_the_app() -> None:
    class Failing:
        def read(self) -> bytes:
            raise OSError("gone")

    response: dict[str, Any] = {"contentType": "application/json", "body": Failing()}
    with pytest.raises(OSError, match="gone"):
        invoke.parse_response(response, None)  # type: ignore[arg-type]
    for method in ("read", "readlines", "iter_lines", "iter_chunks"):
        with pytest.raises(OSError, match="gone"):
            getattr(response["body"], method)()
    with pytest.raises(OSError, match="gone"):
        iter(response["body"])
    response["body"].close()


def chunk(payload: Any) -> dict[str, Any]:
    return {"chunk": {"bytes": json.dumps(payload).encode()}}


def invoke_stream(*events: Any) -> Result:
    accumulator = invoke.InvokeStreamAccumulator(None)  # type: ignore[arg-type]
    accumulator.read_response({"ResponseMetadata": {"RequestId": "req-3"}})
    for event in events:
        accumulator.add(event)
    return accumulator.result()


METRICS = {"inputTokenCount": 11, "outputTokenCount": 7, "cacheReadInputTokenCount": 3,
           "cacheWriteInputTokenCount": 2, "invocationLatency": 100}


def test_family_stream_with_invocation_metrics() -> None:
    result = invoke_stream(chunk({"generation": "He", "prompt_token_count": 8}),
                           {"chunk": {"bytes": b"not json"}}, {"chunk": "x"}, "x",
                           {"chunk": {"bytes": b"[1]"}},
                           chunk({"generation": "llo", "stop_reason": "length",
                                  "amazon-bedrock-invocationMetrics": {
                                      "inputTokenCount": 11, "outputTokenCount": 7}}))
    assert result.response_id == "req-3"
    assert result.finish_reasons == ["length"]
    assert usage(result) == (8, 7, None, None)  # the body's input count wins
    assert result.output_text and result.output_text() == "Hello"


@pytest.mark.parametrize(("metrics", "expected"), [
    (METRICS, (16, 7, 3, 2)),
    ({"inputTokenCount": 11, "outputTokenCount": -7}, (11, None, None, None)),
    ({"outputTokenCount": 7.0}, (None, 7, None, None)),
    ("x", (None, None, None, None)),
])
def test_invocation_metrics_usage(metrics: Any, expected: tuple[Any, ...]) -> None:
    result = invoke_stream(chunk({"completion": "x", "amazon-bedrock-invocationMetrics": metrics}))
    assert usage(result) == expected


def test_anthropic_stream_events() -> None:
    trace = {"guardrail": {"input": {"g": {"wordPolicy": {"customWords": [
        {"action": "BLOCKED"}]}}}}}
    result = invoke_stream(
        chunk({"type": "message_start", "message": {
            "id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        chunk({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}),
        chunk({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "hi"}}),
        chunk({"type": "content_block_stop", "index": 0}),
        chunk({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"output_tokens": 4}}),
        chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": METRICS,
               "amazon-bedrock-guardrailAction": "INTERVENED", "amazon-bedrock-trace": trace}))
    assert result.response_id == "msg_1"
    assert result.finish_reasons == ["end_turn"]
    assert usage(result)[:2] == (20, 4)
    assert refusal(result) == (True, BY_FINISH, "word_filter")


def test_anthropic_stream_without_usage_takes_the_metrics() -> None:
    result = invoke_stream(chunk({"type": "ping"}),
                           chunk({"type": "message_stop",
                                  "amazon-bedrock-invocationMetrics": METRICS}))
    assert usage(result) == (16, 7, 3, 2)
    assert refusal(result) == NO_REFUSAL


def test_anthropic_stream_keeps_a_refusal_of_the_stop_reason() -> None:
    result = invoke_stream(
        chunk({"type": "message_delta", "delta": {"stop_reason": "refusal"}}),
        chunk({"type": "message_stop", "amazon-bedrock-guardrailAction": "INTERVENED"}))
    assert refusal(result) == (True, BY_FINISH, None)


def test_invoke_wrap_body_stream() -> None:
    accumulator = invoke.InvokeStreamAccumulator(None)  # type: ignore[arg-type]
    response = {"body": [1], "ResponseMetadata": {"RequestId": "r"}}
    assert invoke.wrap_body_stream(response, accumulator, lambda s: ("p", s))["body"] == ("p", [1])
    assert accumulator.result().response_id == "r"
    with pytest.raises(ValueError, match="no 'body'"):
        invoke.wrap_body_stream({"stream": 1}, accumulator, lambda s: s)
