"""Cost enrichment: every branch of the request terms read from a span, the usage counts
priced, the incomplete/invalid flags and what the cost counter adds (docs/testing.md,
"Mutation testing")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire.processors.cost import price_context

from .conftest import Harness

RESP, GEN_RESP, TW_RESP = (semconv.OPENAI_RESPONSE_SERVICE_TIER,
                           semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER,
                           semconv.TRIPWIRE_RESPONSE_SERVICE_TIER)
REQ, GEN_REQ, TW_REQ = (semconv.OPENAI_REQUEST_SERVICE_TIER,
                        semconv.GEN_AI_OPENAI_REQUEST_SERVICE_TIER,
                        semconv.TRIPWIRE_REQUEST_SERVICE_TIER)
SPEED, REQ_SPEED = semconv.TRIPWIRE_RESPONSE_SPEED, semconv.TRIPWIRE_REQUEST_SPEED


@pytest.mark.parametrize(("attrs", "terms"), [
    ({}, ()),
    ({"unrelated": "priority"}, ()),
    ({RESP: "Priority"}, (("service_tier", "priority"),)),
    ({GEN_RESP: "FLEX"}, (("service_tier", "flex"),)),
    ({TW_RESP: "scale"}, (("service_tier", "scale"),)),
    # the served tier is taken as it is, even a value that would say nothing when asked for
    ({RESP: "auto"}, (("service_tier", "auto"),)),
    # an empty served tier is none: the requested one decides
    ({RESP: ""}, ()),
    ({RESP: "", REQ: "flex"}, (("service_tier", "flex"),)),
    # a value that is not text is passed over for the next key
    ({RESP: 5, GEN_RESP: "flex"}, (("service_tier", "flex"),)),
    ({RESP: True, TW_RESP: "flex"}, (("service_tier", "flex"),)),
    # the first served key wins over the later ones and over the request
    ({RESP: "priority", GEN_RESP: "flex", TW_RESP: "scale", REQ: "batch"},
     (("service_tier", "priority"),)),
    ({GEN_RESP: "flex", TW_RESP: "scale"}, (("service_tier", "flex"),)),
    ({REQ: "priority"}, (("service_tier", "priority"),)),
    ({GEN_REQ: "Flex"}, (("service_tier", "flex"),)),
    ({TW_REQ: "priority"}, (("service_tier", "priority"),)),
    # requested values that leave the choice to the provider say nothing
    ({REQ: "auto"}, ()),
    ({REQ: "AUTO"}, ()),
    ({REQ: ""}, ()),
    ({REQ: "unspecified"}, ()),
    ({REQ: "Standard_Only"}, ()),
    ({REQ: "auto", GEN_REQ: "flex"}, (("service_tier", "flex"),)),
    ({REQ: "auto", GEN_REQ: "", TW_REQ: "priority"}, (("service_tier", "priority"),)),
    ({REQ: 3, TW_REQ: "priority"}, (("service_tier", "priority"),)),
    ({REQ: "priority", GEN_REQ: "flex"}, (("service_tier", "priority"),)),
    # batch is a tier and a processing mode
    ({RESP: "batch"}, (("processing", "batch"), ("service_tier", "batch"))),
    ({REQ: "Batch"}, (("processing", "batch"), ("service_tier", "batch"))),
    ({RESP: "batched"}, (("service_tier", "batched"),)),
    # speed: served first, then requested, without the provider's-choice values
    ({SPEED: "Fast"}, (("speed", "fast"),)),
    ({REQ_SPEED: "fast"}, (("speed", "fast"),)),
    ({SPEED: "fast", REQ_SPEED: "slow"}, (("speed", "fast"),)),
    ({SPEED: "auto", REQ_SPEED: "fast"}, (("speed", "fast"),)),
    ({SPEED: "auto"}, ()),
    ({SPEED: ""}, ()),
    ({SPEED: 1, REQ_SPEED: "fast"}, (("speed", "fast"),)),
    ({RESP: "priority", SPEED: "fast"}, (("service_tier", "priority"), ("speed", "fast"))),
    ({REQ: "batch", REQ_SPEED: "fast"},
     (("processing", "batch"), ("service_tier", "batch"), ("speed", "fast"))),
    ({REQ: "auto", SPEED: "fast"}, (("speed", "fast"),)),
])
def test_price_context_of_every_attribute(attrs: dict[str, Any], terms: tuple) -> None:
    assert price_context(attrs) == terms


def _overlay(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{
        "match": "house-model", "input_per_mtok": 1, "output_per_mtok": 10,
        "cache_read_per_mtok": 0.5, "cache_write_per_mtok": 2}]}))
    harness.settings(prices_file=str(path))


def _attrs(harness: Harness, **kw: Any) -> dict[str, Any]:
    harness.exporter.clear()
    harness.llm("house-model", **kw)
    return dict(harness.span("chat house-model").attributes)


def _cost_points(harness: Harness) -> list[float]:
    return [value for _, value in harness.points(semconv.METRIC_COST)]


def test_usage_counts_priced_each_at_its_rate(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    read, write = (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                   semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    a = _attrs(harness, input_tokens=1000, output_tokens=100, **{read: 200, write: 300})
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        (500 * 1 + 200 * 0.5 + 300 * 2 + 100 * 10) / 1e6, rel=1e-12)
    assert a[semconv.TRIPWIRE_COST_SOURCE] == semconv.COST_SOURCE_OVERRIDE
    assert semconv.TRIPWIRE_COST_TIER not in a
    assert semconv.TRIPWIRE_USAGE_INCOMPLETE not in a
    assert semconv.TRIPWIRE_USAGE_INVALID not in a
    assert _cost_points(harness) == [pytest.approx(0.0022, rel=1e-12)]


def test_only_an_input_count_is_incomplete_and_priced(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=1000, output_tokens=None)
    assert a[semconv.TRIPWIRE_USAGE_INCOMPLETE] is True
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(1000 / 1e6, rel=1e-12)


def test_only_an_output_count_is_incomplete_and_priced(harness: Harness,
                                                       tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=None, output_tokens=100)
    assert a[semconv.TRIPWIRE_USAGE_INCOMPLETE] is True
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(100 * 10 / 1e6, rel=1e-12)


def test_an_embedding_without_output_is_complete(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    harness.llm("house-model", operation="embeddings", input_tokens=1000, output_tokens=None)
    a = harness.span("embeddings house-model").attributes
    assert semconv.TRIPWIRE_USAGE_INCOMPLETE not in a
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(1000 / 1e6, rel=1e-12)


def test_no_counts_is_unpriced_not_incomplete(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=None, output_tokens=None)
    assert semconv.TRIPWIRE_USAGE_INCOMPLETE not in a
    assert a[semconv.TRIPWIRE_COST_UNPRICED] is True
    assert a[semconv.TRIPWIRE_COST_UNPRICED_REASON] == semconv.UNPRICED_REASON_UNKNOWN_USAGE
    assert semconv.TRIPWIRE_COST_USD not in a


def test_a_flag_already_on_the_span_is_not_written_again(harness: Harness,
                                                         tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=1000, output_tokens=None,
               **{semconv.TRIPWIRE_USAGE_INCOMPLETE: False})
    assert a[semconv.TRIPWIRE_USAGE_INCOMPLETE] is False


def test_an_invalid_count_is_flagged(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=1000, output_tokens=-5)
    assert a[semconv.TRIPWIRE_USAGE_INVALID] is True
    assert a[semconv.TRIPWIRE_USAGE_INCOMPLETE] is True
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(1000 / 1e6, rel=1e-12)
    a = _attrs(harness, input_tokens=1000, output_tokens=-5,
               **{semconv.TRIPWIRE_USAGE_INVALID: False})
    assert a[semconv.TRIPWIRE_USAGE_INVALID] is False


def test_a_zero_cost_adds_nothing_to_the_counter(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, input_tokens=0, output_tokens=0)
    assert a[semconv.TRIPWIRE_COST_USD] == 0.0
    assert _cost_points(harness) == []
    _attrs(harness, input_tokens=0, output_tokens=1)
    assert _cost_points(harness) == [pytest.approx(10 / 1e6, rel=1e-12)]


def test_a_cost_already_on_the_span_is_counted_as_is(harness: Harness, tmp_path: Path) -> None:
    _overlay(harness, tmp_path)
    a = _attrs(harness, **{semconv.TRIPWIRE_COST_USD: 0.25})
    assert a[semconv.TRIPWIRE_COST_USD] == 0.25
    assert semconv.TRIPWIRE_COST_SOURCE not in a
    assert _cost_points(harness) == [pytest.approx(0.25)]
    _attrs(harness, **{semconv.TRIPWIRE_COST_USD: 1})
    assert _cost_points(harness) == [pytest.approx(1.25)]


def _dated_call(harness: Harness, when: datetime, **attrs: Any) -> dict[str, Any]:
    harness.exporter.clear()
    start = int(when.timestamp()) * 1_000_000_000
    span = harness.tracer.start_span(
        "chat gpt-4o", kind=SpanKind.CLIENT, start_time=start,
        attributes={semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
                    semconv.GEN_AI_PROVIDER_NAME: "openai", **attrs})
    span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, "gpt-4o")
    span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 1000)
    span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 100)
    span.end(end_time=start + 1_000_000_000)
    return dict(harness.span("chat gpt-4o").attributes)


def _gpt4o(when: datetime, tier: str | None) -> float:
    return float(calc_price(GPUsage(input_tokens=1000, output_tokens=100), "gpt-4o",
                            provider_id="openai", genai_request_timestamp=when,
                            price_context={"service_tier": tier} if tier else None).total_price)


@pytest.mark.parametrize(("when", "tier"), [
    # genai-prices' priority prices of gpt-4o start on 2026-10-12: the day of the request
    # decides, to the second, not the day the span is exported
    (datetime(2026, 10, 11, 23, 59, 59, tzinfo=timezone.utc), "standard"),
    (datetime(2026, 10, 12, 0, 0, 1, tzinfo=timezone.utc), "priority"),
    (datetime(2026, 10, 12, 12, 0, 0, tzinfo=timezone.utc), "priority"),
])
def test_the_tier_of_the_day_of_the_request(harness: Harness, when: datetime, tier: str) -> None:
    a = _dated_call(harness, when, **{RESP: "priority"})
    assert a[semconv.TRIPWIRE_COST_TIER] == tier
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        _gpt4o(when, None if tier == "standard" else tier), rel=1e-12)
    if tier == "standard":  # the priority price of the day after is higher
        assert a[semconv.TRIPWIRE_COST_USD] < _gpt4o(when + timedelta(days=1), "priority")


def test_an_unpriced_call_is_counted_with_its_reason(harness: Harness) -> None:
    harness.llm("no-such-model-xyz")
    harness.llm("gpt-4o-mini", input_tokens=None, output_tokens=None)
    points = harness.points(semconv.METRIC_UNPRICED_CALLS)
    by_reason = {attrs[semconv.TRIPWIRE_COST_UNPRICED_REASON]: (attrs, value)
                 for attrs, value in points}
    assert {reason: value for reason, (_, value) in by_reason.items()} == {
        semconv.UNPRICED_REASON_UNKNOWN_MODEL: 1, semconv.UNPRICED_REASON_UNKNOWN_USAGE: 1}
    attrs = by_reason[semconv.UNPRICED_REASON_UNKNOWN_MODEL][0]
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "no-such-model-xyz"


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time 14 hours ahead of UTC (restored afterwards)."""
    import time

    monkeypatch.setenv("TZ", "Etc/GMT-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("when", "tier"), [
    (datetime(2026, 10, 11, 12, 0, 0, tzinfo=timezone.utc), "standard"),  # 02:00 next day local
    (datetime(2026, 10, 11, 23, 59, 59, tzinfo=timezone.utc), "standard"),
])
def test_the_day_of_the_request_is_the_utc_day_whatever_the_local_time_zone(
        far_from_utc: None, harness: Harness, when: datetime, tier: str) -> None:
    a = _dated_call(harness, when, **{RESP: "priority"})
    assert a[semconv.TRIPWIRE_COST_TIER] == tier
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(_gpt4o(when, None), rel=1e-12)
