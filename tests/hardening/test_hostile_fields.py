"""The guards every response mapping reads through, on values no SDK type would allow: each
costs only its own field, and nothing tripwire walks recurses past ``fields.MAX_DEPTH``.
(The same values through the real SDKs and fake servers: tests/contract/
test_hostile_responses.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import (
    INVALID,
    MAX_DEPTH,
    TOO_DEEP,
    deeper_than,
    get,
    index,
    items,
    safe_attributes,
    text_list,
    text_or_invalid,
)
from tripwire._core.tools import RequestedToolCall, check_tool_calls
from tripwire._core.wire.usage import usage_counts
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": [value]}
    return value


DEEP = _nested(100_000)


def test_a_field_of_a_scalar_or_list_reads_as_absent() -> None:
    # getattr would hand back str.index / list.count: not a field of the answer
    assert get("abc", "index") is None
    assert get([1, 2], "count") is None
    assert get(42, "real") is None
    assert get({"index": 3}, "index") == 3


@pytest.mark.parametrize(("value", "expected"), [
    ([1], [1]), ((1,), (1,)), (42, ()), ("ab", ()), ({"a": 1}, ()), (None, ())])
def test_items_of_anything_but_a_list_are_none(value: Any, expected: Any) -> None:
    assert items(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), (3, 3), ("1", 0), (-1, 0), (True, 0), (2**70, 0), (1.0, 0)])
def test_index_is_a_small_int_or_zero(value: Any, expected: int) -> None:
    assert index(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("gpt", "gpt"), ("a\ud800", "a?"), ("", None), (None, None), (42, INVALID),
    ([1], INVALID), ({"k": 1}, INVALID), (float("nan"), INVALID)])
def test_response_text_fields(value: Any, expected: Any) -> None:
    assert text_or_invalid(value) == expected if expected is not INVALID \
        else text_or_invalid(value) is INVALID


def test_finish_reasons_of_another_type_are_invalid_as_a_whole() -> None:
    assert text_list(["stop", "length"]) == ["stop", "length"]
    assert text_list(["stop", 42]) is INVALID
    assert text_list(42) is INVALID


@pytest.mark.parametrize("value", [
    {"k": "v"}, [1, "a"], [[1]], [{"a": 1}], INVALID, object(), DEEP,
    _nested_list := [[[[[1]]]]]])
def test_attribute_values_otlp_cannot_carry_are_dropped_and_named(value: Any) -> None:
    attributes = {"bad": value, "good": 1}
    assert safe_attributes(attributes) == ["bad"]
    assert attributes == {"good": 1}


def test_a_list_nested_past_the_recursion_limit_is_dropped_without_recursing() -> None:
    value: Any = 1
    for _ in range(100_000):
        value = [value]
    attributes = {"bad": value}
    assert safe_attributes(attributes) == ["bad"]


def test_deeper_than_is_iterative() -> None:
    assert deeper_than(DEEP)
    assert not deeper_than(_nested(MAX_DEPTH // 2 - 1))
    assert deeper_than(_nested(MAX_DEPTH // 2 + 1))
    assert not deeper_than("x" * 10)


def test_captured_content_nested_past_any_real_use_is_cut_not_lost() -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)
    serialised = content.to_json([{"role": "assistant", "parts": [DEEP]}])
    parsed = json.loads(serialised)  # still valid JSON
    assert parsed[0]["role"] == "assistant"
    assert TOO_DEEP in serialised


def test_captured_content_is_valid_json_whatever_it_holds() -> None:
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)

    class Weird:
        def __str__(self) -> str:
            raise RecursionError

    serialised = content.to_json({"nan": float("nan"), "inf": float("inf"), "big": 10**80,
                                  "obj": Weird(), 3: "int key", "text": "a\ud800"})
    parsed = json.loads(serialised)  # NaN/Infinity are not JSON: turned into text
    assert parsed == {"nan": "nan", "inf": "inf", "big": content.TRUNCATED, "obj": "Weird",
                      "3": "int key", "text": "a?"}


def test_tool_call_arguments_text_nested_past_the_parser_limit_is_kept_as_text() -> None:
    deep_text = "[" * 100_000 + "]" * 100_000
    assert content.parse_json_or_text(deep_text) == deep_text


def test_tool_calls_with_hostile_names_ids_and_arguments_cost_only_their_flags() -> None:
    declared = {"f": {"type": "object"}}
    report = check_tool_calls([
        RequestedToolCall(["not", "a", "name"], ["id"], "{}"),  # type: ignore[arg-type]
        RequestedToolCall("c2", "f", _nested(MAX_DEPTH)),
        RequestedToolCall("c3", "f", {"ok": 1}),
    ], declared)
    assert report.names == ["", "f", "f"]
    assert report.ids == ["c2", "c3"]
    assert report.unknown == [""]
    assert report.invalid == ["f"]  # the over-deep arguments only


@pytest.mark.parametrize("bad", ["²", "9" * 5000, "seven", -1, 2.5, True, float("nan")])
def test_anthropic_format_usage_with_a_bad_count_is_flagged_not_fatal(bad: Any) -> None:
    from tripwire._core.invocation import Result, _drop_invalid_usage
    from tripwire._core.wire.usage import apply_usage

    result = Result()
    apply_usage(result, usage_counts(7, 5, bad, None))  # a bad cache read count
    assert _drop_invalid_usage(result)  # flagged: tripwire.usage.invalid
    assert result.input_tokens is None  # the sum cannot be known
    assert result.output_tokens == 5  # the rest is kept
    assert usage_counts("12", "3", None, None)["input_tokens"] == 12  # header digits


def test_gemini_embeddings_with_a_nan_token_count_keep_the_span() -> None:
    from tripwire.instrumentation.google_genai.embeddings import parse_response

    result = parse_response({"embeddings": [{"statistics": {"token_count": float("nan")}},
                                            {"statistics": {"token_count": 3}}]}, None)  # type: ignore[arg-type]
    assert result.input_tokens is None
    assert parse_response({"embeddings": [{"statistics": {"token_count": 4.0}}]},
                          None).input_tokens == 4  # type: ignore[arg-type]


def test_invalid_attributes_name_the_dropped_response_fields(pipeline: Any) -> None:
    """A model name that is a number: the span keeps usage and cost (priced by the requested
    model) and names the field it dropped."""
    from tripwire.instrumentation.openai import OpenAIInstrumentor
    from tripwire.testing import FakeOpenAIServer, json_reply

    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
    try:
        with FakeOpenAIServer() as server:
            server.enqueue(json_reply({
                "id": ["x"], "object": "chat.completion", "created": 1, "model": 42,
                "choices": [{"index": 0, "finish_reason": {"k": 1},
                             "message": {"role": "assistant", "content": "hi"}},
                            {"index": 1, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": 7}}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}))
            answer = server.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        inst.uninstrument()
    assert answer.model == 42  # the app gets what the SDK made of it
    [span] = [s for s in pipeline.spans() if s.name == "chat gpt-4o-mini"]
    attrs = span.attributes
    assert set(attrs[semconv.TRIPWIRE_INVALID_ATTRIBUTES]) == {
        semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_RESPONSE_MODEL,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS}
    for key in (semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_RESPONSE_MODEL,
                semconv.GEN_AI_RESPONSE_FINISH_REASONS):
        assert key not in attrs
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert attrs[semconv.TRIPWIRE_COST_USD] > 0
