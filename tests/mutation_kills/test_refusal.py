"""Refusal detection, exactly: every finish-reason in the table with its category, the
text patterns only when *every* reply text refuses, and no refusal once the model called a
tool (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tripwire import semconv
from tripwire.processors.refusal import REFUSAL_FINISH_REASONS

from .conftest import Harness

REFUSES = "I'm sorry, but I can't help with that request."
ANSWERS = "Sure! Lighthouses guide ships along dangerous coasts."


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _tool_call(name: str = "get_weather") -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "id": "call_1", "arguments": {"city": "Paris"}}


def _messages(*parts_per_message: list[dict[str, Any]]) -> str:
    return json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": parts}
                       for parts in parts_per_message])


def _flags(harness: Harness, output: Any, reasons: tuple[str, ...] = ("stop",)) -> dict:
    harness.llm("gpt-4o-mini", **{semconv.GEN_AI_RESPONSE_FINISH_REASONS: reasons,
                                  semconv.GEN_AI_OUTPUT_MESSAGES: output})
    attrs = harness.span("chat gpt-4o-mini").attributes
    return {k: v for k, v in attrs.items() if k.startswith("tripwire.refusal")}


def _refusal_count(harness: Harness) -> int:
    return sum(value for _, value in harness.points(semconv.METRIC_REFUSALS))


@pytest.mark.parametrize(("reason", "category"), sorted(REFUSAL_FINISH_REASONS.items()))
def test_every_refusal_finish_reason_and_its_category(harness: Harness, reason: str,
                                                     category: str | None) -> None:
    # upper case too: providers differ in spelling (Gemini's SAFETY, OpenAI's content_filter)
    flags = _flags(harness, _messages([_text(ANSWERS)]), reasons=("stop", reason.upper()))
    expected: dict[str, Any] = {semconv.TRIPWIRE_REFUSAL: True,
                                semconv.TRIPWIRE_REFUSAL_SOURCE: "finish_reason"}
    if category is not None:
        expected[semconv.TRIPWIRE_REFUSAL_CATEGORY] = category
    assert flags == expected
    [(point, value)] = harness.points(semconv.METRIC_REFUSALS)
    assert value == 1 and point[semconv.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert point[semconv.GEN_AI_PROVIDER_NAME] == "openai"


def test_a_lone_finish_reason_string_is_read_whole(harness: Harness) -> None:
    # a foreign instrumentor writing a string, not a list: "safety", not "s", "a", ...
    harness.llm("gpt-4o-mini", **{semconv.GEN_AI_RESPONSE_FINISH_REASONS: "safety"})
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert attrs[semconv.TRIPWIRE_REFUSAL_CATEGORY] == "safety"


def test_the_first_refusal_reason_decides_the_category(harness: Harness) -> None:
    flags = _flags(harness, _messages([_text(ANSWERS)]),
                   reasons=("recitation", "safety", "blocklist"))
    assert flags[semconv.TRIPWIRE_REFUSAL_CATEGORY] == "recitation"


def test_text_refusal_sets_exactly_the_text_source_and_counts_once(harness: Harness) -> None:
    flags = _flags(harness, _messages([_text(REFUSES)]))
    assert flags == {semconv.TRIPWIRE_REFUSAL: True,
                     semconv.TRIPWIRE_REFUSAL_SOURCE: "text_pattern"}
    [(point, value)] = harness.points(semconv.METRIC_REFUSALS)
    assert value == 1 and point[semconv.TRIPWIRE_REFUSAL_SOURCE] == "text_pattern"


def test_every_reply_must_refuse_two_texts_in_one_message(harness: Harness) -> None:
    # one part opens like a refusal, the next answers: the model answered
    assert _flags(harness, _messages([_text(REFUSES), _text(ANSWERS)])) == {}
    assert _refusal_count(harness) == 0


def test_every_reply_must_refuse_several_choices(harness: Harness) -> None:
    # n=3 choices, only the second refuses: not a refusal; all three refuse: a refusal
    assert _flags(harness, _messages([_text(ANSWERS)], [_text(REFUSES)],
                                     [_text(ANSWERS)])) == {}
    harness.exporter.clear()
    flags = _flags(harness, _messages([_text(REFUSES)], [_text("I cannot assist with that.")],
                                      [_text("Unfortunately, I won't share that.")]))
    assert flags[semconv.TRIPWIRE_REFUSAL_SOURCE] == "text_pattern"
    assert _refusal_count(harness) == 1


def test_a_tool_call_next_to_refusing_text_is_not_a_refusal(harness: Harness) -> None:
    assert _flags(harness, _messages([_text(REFUSES), _tool_call()])) == {}
    assert _refusal_count(harness) == 0


def test_a_tool_call_in_any_message_is_not_a_refusal(harness: Harness) -> None:
    # the tool call comes in a later message than the refusing text, and alone
    assert _flags(harness, _messages([_text(REFUSES)], [_tool_call()])) == {}
    harness.exporter.clear()
    assert _flags(harness, _messages([_tool_call()], [_text(REFUSES)])) == {}
    assert _refusal_count(harness) == 0


@pytest.mark.parametrize("output", [
    "not json", "", json.dumps({"role": "assistant"}), json.dumps(["text", 3, None]),
    json.dumps([{"role": "assistant", "parts": "I cannot help with that."}]),
    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": 42},
                                                 "I cannot help"]}]),
    json.dumps([{"role": "assistant", "parts": [{"type": "reasoning",
                                                 "content": REFUSES}]}]),
])
def test_output_without_a_readable_reply_text_is_not_a_refusal(harness: Harness,
                                                               output: str) -> None:
    assert _flags(harness, output) == {}


def test_malformed_parts_are_skipped_and_the_readable_text_decides(harness: Harness) -> None:
    output = json.dumps(["junk", {"role": "assistant", "parts": [
        "junk", {"type": "text", "content": 42}, {"type": "text", "content": REFUSES}]}])
    assert _flags(harness, output)[semconv.TRIPWIRE_REFUSAL_SOURCE] == "text_pattern"


def test_only_the_opening_of_a_reply_is_read(harness: Harness) -> None:
    # the refusal phrase 300+ characters in is not the reply's opening
    assert _flags(harness, _messages([_text(" " * 299 + "I cannot help with that.")])) == {}
    harness.exporter.clear()
    flags = _flags(harness, _messages([_text(" " * 270 + "I cannot help with that.")]))
    assert flags[semconv.TRIPWIRE_REFUSAL_SOURCE] == "text_pattern"


def test_text_patterns_off_flags_nothing_but_finish_reasons_still_do(harness: Harness) -> None:
    harness.settings(refusal_text_patterns=False)
    assert _flags(harness, _messages([_text(REFUSES)])) == {}
    harness.exporter.clear()
    assert _flags(harness, _messages([_text(ANSWERS)]), reasons=("refusal",)) == {
        semconv.TRIPWIRE_REFUSAL: True, semconv.TRIPWIRE_REFUSAL_SOURCE: "finish_reason"}


def test_instrumentor_flag_counted_with_its_source_and_not_rewritten(harness: Harness) -> None:
    harness.llm("gpt-4o-mini", **{semconv.TRIPWIRE_REFUSAL: True,
                                  semconv.TRIPWIRE_REFUSAL_SOURCE: "provider_field",
                                  semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("safety",)})
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert semconv.TRIPWIRE_REFUSAL_CATEGORY not in attrs  # the finish reason is not re-read
    [(point, value)] = harness.points(semconv.METRIC_REFUSALS)
    assert value == 1 and point[semconv.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"


def test_instrumentor_flag_without_source_is_counted_without_one(harness: Harness) -> None:
    harness.llm("gpt-4o-mini", **{semconv.TRIPWIRE_REFUSAL: True})
    [(point, value)] = harness.points(semconv.METRIC_REFUSALS)
    assert value == 1 and semconv.TRIPWIRE_REFUSAL_SOURCE not in point


def test_non_inference_spans_are_never_refusals(harness: Harness) -> None:
    harness.llm("text-embedding-3-small", operation="embeddings",
                **{semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("content_filter",)})
    assert semconv.TRIPWIRE_REFUSAL not in harness.spans()[0].attributes
    assert _refusal_count(harness) == 0


def test_only_the_last_reply_refusing_is_not_a_refusal(harness: Harness) -> None:
    # every reply text is read, not only the last message's
    assert _flags(harness, _messages([_text(ANSWERS)], [_text(REFUSES)])) == {}


@pytest.mark.parametrize("output", ["42", "null", "true", '"I cannot help with that."'])
def test_output_json_that_is_not_a_message_list_is_read_quietly(
        harness: Harness, caplog: pytest.LogCaptureFixture, output: str) -> None:
    with caplog.at_level(logging.DEBUG, logger="tripwire"):
        assert _flags(harness, output) == {}
    assert not [r for r in caplog.records if "failed" in r.getMessage()]


def test_output_messages_of_another_type_are_read_quietly(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    # a foreign instrumentor recording the messages as a list attribute, not JSON
    with caplog.at_level(logging.DEBUG, logger="tripwire"):
        assert _flags(harness, ("I cannot help with that.",)) == {}  # type: ignore[arg-type]
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
