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
