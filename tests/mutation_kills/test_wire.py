"""The Anthropic/Bedrock wire mappings, exactly: token counts (a cache-exclusive input count
made inclusive, header strings read as counts, bad values passed on to be flagged), every
stop reason and its schema finish_reason, refusal flags from the stop reason and its
details (docs/testing.md, "Mutation testing"). The same mappings through the real SDK:
tests/instrumentation/anthropic/test_finish_reasons.py."""

from __future__ import annotations

from typing import Any

import pytest

from tripwire import semconv as sc
from tripwire._core.invocation import Result
from tripwire._core.wire import anthropic_messages as wire
from tripwire._core.wire.usage import apply_usage, token_count, usage_counts


@pytest.mark.parametrize(("value", "expected"), [
    ("123", 123), ("0", 0), ("9" * 18, int("9" * 18)),
    ("9" * 19, "9" * 19),  # too long to be a count: passed on as it came
    ("12a", "12a"), ("", ""), ("²", "²"), (" 12", " 12"),
    (7, 7), (None, None), (1.5, 1.5), (True, True),
])
def test_token_count(value: Any, expected: Any) -> None:
    got = token_count(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("args", "expected"), [
    ((100, 20, 300, 50), (450, 20, 300, 50)),  # input made inclusive of the cache
    ((100, 20, None, None), (100, 20, None, None)),
    ((100, 20, 0, 0), (100, 20, 0, 0)),
    (("100", "20", "300", "50"), (450, 20, 300, 50)),  # header strings
    ((None, 20, 300, 50), (None, 20, 300, 50)),  # no input count: no sum
    ((100, 20, -5, 50), (-5, 20, -5, 50)),  # a bad term: the input is that bad value
    ((100, 20, 300, "x"), ("x", 20, 300, "x")),
    ((-1, 20, 300, 50), (-1, 20, 300, 50)),
    ((0, 0, 0, 0), (0, 0, 0, 0)),
])
def test_usage_counts(args: tuple, expected: tuple) -> None:
    got = usage_counts(*args)
    assert got == dict(zip(("input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_creation_tokens"), expected))


def test_apply_usage_sets_only_known_counts_and_merges_terms() -> None:
    result = Result()
    result.input_tokens, result.output_tokens = 5, 6
    result.attributes["kept"] = 1
    apply_usage(result, {"input_tokens": 10, "output_tokens": None,
                         "attributes": {"tier": "batch"}})
    assert (result.input_tokens, result.output_tokens) == (10, 6)
    assert result.attributes == {"kept": 1, "tier": "batch"}


SCHEMA = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
          "max_tokens": "length", "model_context_window_exceeded": "length",
          "tool_use": "tool_call", "refusal": "content_filter", "new_reason": "new_reason"}


@pytest.mark.parametrize(("reason", "expected"), [*SCHEMA.items(), (None, None), ("", None),
                                                  (3, None), (b"end_turn", None)])
def test_schema_finish(reason: Any, expected: Any) -> None:
    assert wire.schema_finish(reason) == expected


@pytest.mark.parametrize("reason", sorted(SCHEMA))
def test_stop_reason_kept_as_sent_and_mapped_for_the_messages(reason: str) -> None:
    result = Result()
    assert wire._apply_stop(result, reason, None) == SCHEMA[reason]
    assert result.finish_reasons == [reason]
    assert bool(result.refusal) is (reason == "refusal")


@pytest.mark.parametrize(("details", "source", "category"), [
    (None, "finish_reason", None),
    ({"type": "refusal", "category": "cyber"}, "provider_field", "cyber"),
    ({"type": "refusal", "category": ""}, "provider_field", None),
    ({"type": "refusal", "category": 7}, "provider_field", None),
    ({"type": "refusal"}, "provider_field", None),
])
def test_refusal_source_and_category(details: Any, source: str, category: Any) -> None:
    result = Result()
    wire._apply_stop(result, "refusal", details)
    assert result.refusal is True
    assert result.refusal_source == source
    assert result.refusal_category == category


@pytest.mark.parametrize("reason", [None, ""])
def test_no_stop_reason_records_nothing(reason: Any) -> None:
    result = Result()
    assert wire._apply_stop(result, reason, None) is None
    assert result.finish_reasons == [] and not result.refusal


def test_a_stop_reason_that_is_not_text_is_recorded_for_the_core_to_flag() -> None:
    result = Result()
    assert wire._apply_stop(result, 42, {"category": "x"}) is None
    assert result.finish_reasons == [42] and not result.refusal


def test_usage_numbers_of_a_message_and_of_a_stream() -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
             "cache_creation_input_tokens": 20, "service_tier": "priority",
             "cache_creation": {"ephemeral_1h_input_tokens": 12},
             "output_tokens_details": {"thinking_tokens": 3}}
    got = wire.usage_numbers(usage)
    assert got["input_tokens"] == 130 and got["output_tokens"] == 5
    assert got["cache_read_tokens"] == 100 and got["cache_creation_tokens"] == 20
    assert got["reasoning_tokens"] == 3
    assert got["attributes"] == {sc.TRIPWIRE_RESPONSE_SERVICE_TIER: "priority",
                                 sc.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS: 12}
    # a stream's message_delta with only output_tokens: the rest from message_start
    got = wire.usage_numbers({"output_tokens": 9}, {"input_tokens": 4, "output_tokens": 1,
                                                    "cache_read_input_tokens": 6})
    assert (got["input_tokens"], got["output_tokens"], got["cache_read_tokens"]) == (10, 9, 6)
    assert "attributes" not in got
    assert wire.usage_numbers(None) == {}


def _streamed(*events: dict[str, Any]) -> Result:
    fold = wire.MessageEvents()
    for event in events:
        fold.add(event)
    result = Result()
    fold.apply(result)
    return result


def _start(index: Any, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: Any, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def test_streamed_blocks_keep_what_their_start_carried() -> None:
    result = _streamed(
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x",
                                              "usage": {"input_tokens": 4, "output_tokens": 1}}},
        _start(0, {"type": "text", "text": "Hel"}),
        _delta(0, {"type": "text_delta", "text": "lo"}),
        _delta(0, {"type": "text_delta", "text": 7}),  # not text: dropped
        _start(1, {"type": "thinking", "thinking": "Hm"}),
        _delta(1, {"type": "thinking_delta", "thinking": "m."}),
        _start(2, {"type": "tool_use", "id": "t1", "name": "get", "input": {"city": "Oslo"}}),
        _start(3, {"type": "tool_use", "id": "t2", "name": "put", "input": {}}),
        _delta(3, {"type": "input_json_delta", "partial_json": '{"a": '}),
        _delta(3, {"type": "input_json_delta", "partial_json": "1}"}),
        _start(4, {"type": "image"}),
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 9}},
    )
    assert result.response_id == "msg_1" and result.response_model == "claude-x"
    assert (result.input_tokens, result.output_tokens) == (4, 9)
    assert result.finish_reasons == ["tool_use"]
    assert result.output_text() == "Hello"
    [message] = result.output_messages()
    assert message["finish_reason"] == "tool_call"
    assert message["parts"] == [
        {"type": "text", "content": "Hello"},
        {"type": "reasoning", "content": "Hmm."},
        {"type": "tool_call", "id": "t1", "name": "get", "arguments": {"city": "Oslo"}},
        {"type": "tool_call", "id": "t2", "name": "put", "arguments": {"a": 1}},
        {"type": "image"},
    ]
    assert [(c.id, c.name) for c in result.tool_calls] == [("t1", "get"), ("t2", "put")]


def test_deltas_without_a_start_and_indexes_that_are_not_numbers() -> None:
    result = _streamed(
        _delta(True, {"type": "text_delta", "text": "a"}),  # a bool is not an index: 0
        _delta("1", {"type": "text_delta", "text": "b"}),  # nor is text: 0
        _delta(2, {"type": "text_delta", "text": "c"}),
    )
    assert result.output_text() == "abc"
    [message] = result.output_messages()
    assert message["parts"] == [{"type": "text", "content": "ab"},
                                {"type": "text", "content": "c"}]
    assert "finish_reason" not in message  # no stop reason streamed


def test_a_tool_use_with_neither_fragments_nor_input_has_empty_arguments() -> None:
    result = _streamed(_start(0, {"type": "tool_use", "id": "t", "name": "ping"}))
    [message] = result.output_messages()
    assert message["parts"] == [{"type": "tool_call", "id": "t", "name": "ping",
                                 "arguments": {}}]


def test_request_messages_as_message_parts() -> None:
    assert wire.input_message({"content": "hi"}) == {
        "role": "user", "parts": [{"type": "text", "content": "hi"}]}
    assert wire.input_message({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "Sunny"}, {"type": "image"},
            {"type": "text", "text": ", 21C"}]},
        {"type": "document"}, {"no": "type"}, "scalar", None]}) == {
        "role": "user", "parts": [
            {"type": "tool_call_response", "id": "t1", "response": "Sunny, 21C"},
            {"type": "document"}, {"type": "unknown"}]}


def test_system_texts_are_joined_line_by_line() -> None:
    assert wire._plain_text([{"type": "text", "text": "One."}, {"type": "text", "text": 3},
                             {"type": "text", "text": "Two."}]) == "One.\nTwo."
    assert wire._plain_text("As is.") == "As is."
    assert wire._plain_text(None) == ""


def test_tool_definitions() -> None:
    assert wire.tool_definition({"name": "get", "description": "d",
                                 "input_schema": {"type": "object"}}) == {
        "type": "function", "name": "get", "description": "d",
        "parameters": {"type": "object"}}
    assert wire.tool_definition({"type": "web_search_20250305", "name": "web_search"}) == {
        "type": "web_search_20250305", "name": "web_search"}
    assert wire.tool_definition({"name": "bare"})["type"] == "function"


def test_a_request_described_exactly() -> None:
    attrs: dict[str, Any] = {}
    params = {"model": "m", "max_tokens": 50, "temperature": 0.5, "service_tier": "auto",
              "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": ""}],
              "messages": [{"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": [{"type": "text", "text": "Yo"},
                                                             {"type": "text", "text": "!"}]}],
              "output_config": {"format": {"type": "json_schema", "schema": {}}}}
    fields = wire.describe_request(attrs, params)
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[sc.TRIPWIRE_REQUEST_SERVICE_TIER] == "auto"
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert fields["system_texts"] == ["Be brief."]
    assert fields["prompt_text"]() == "Be brief.\nHi\nYo\n!"
    assert fields["tool_definitions"] is None  # no tools: nothing to record
    # sampling parameters read from another object (the beta client splits them)
    attrs = {}
    wire.describe_request(attrs, {"messages": []}, {"max_tokens": 7, "service_tier": "batch"})
    assert attrs == {sc.GEN_AI_REQUEST_MAX_TOKENS: 7, sc.TRIPWIRE_REQUEST_SERVICE_TIER: "batch"}


@pytest.mark.parametrize(("params", "expected"), [
    ({"output_config": {"format": {"type": "json_schema"}}}, True),
    ({"output_config": {"format": {"type": "text"}}}, False),
    ({"output_config": {"type": "json_schema"}}, False),
    ({"output_format": {"type": "json_schema"}}, True),
    ({}, False),
])
def test_json_output(params: dict, expected: bool) -> None:
    assert wire.json_output(params) is expected


def test_stop_details_from_the_field_or_an_older_sdks_extras() -> None:
    class Old:
        model_extra = {"stop_details": {"category": "cyber"}}

    class Neither:
        model_extra = None

    assert wire.stop_details({"stop_details": {"category": "bio"}}) == {"category": "bio"}
    assert wire.stop_details(Old()) == {"category": "cyber"}
    assert wire.stop_details(Neither()) is None
    assert wire.stop_details({}) is None


def test_a_whole_message_fills_the_result() -> None:
    result = Result()
    result.response_id, result.response_model = "kept-id", "kept-model"
    wire.parse_message(result, {"id": "", "model": "", "stop_reason": "end_turn",
                                "content": [{"type": "text", "text": "One"},
                                            {"type": "tool_use", "id": "t", "input": {}},
                                            {"type": "text", "text": 5},
                                            {"type": "text", "text": " two"}],
                                "usage": {"input_tokens": 1, "output_tokens": 2}})
    assert (result.response_id, result.response_model) == ("kept-id", "kept-model")
    assert result.output_text() == "One two"
    [call] = result.tool_calls
    assert (call.id, call.name) == ("t", "")
    wire.parse_message(result, {"id": "msg_2", "model": "claude-y", "content": []})
    assert (result.response_id, result.response_model) == ("msg_2", "claude-y")


def test_custom_tools_and_empty_or_odd_values() -> None:
    # a custom tool says "type": "custom" and has a schema: still a function
    assert wire.tool_definition({"type": "custom", "name": "x", "input_schema": {}})[
        "type"] == "function"
    assert wire.system_texts("") == []
    assert wire.declared_tools([{"name": 5}, {"name": ""}, {"name": "ok"}]) is not None
    assert list(wire.declared_tools([{"name": 5}, {"name": ""}, {"name": "ok"}]) or ()) == [
        "ok"]
    attrs: dict[str, Any] = {}
    wire.describe_request(attrs, {"messages": []}, {"service_tier": 5, "speed": ""})
    assert attrs == {}


def test_a_delta_without_an_index_joins_block_zero() -> None:
    result = _streamed(_delta(None, {"type": "text_delta", "text": "a"}),
                       _delta(1, {"type": "text_delta", "text": "b"}))
    [message] = result.output_messages()
    assert message["parts"] == [{"type": "text", "content": "a"},
                                {"type": "text", "content": "b"}]
