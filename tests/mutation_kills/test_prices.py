"""Overlay prices at the cache boundaries: a fully cached prompt (cache reads, or reads plus
writes, equal to the input count) bills no fresh input, and a foreign count that excludes
the cache is added up, not subtracted (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tripwire import semconv
from tripwire.processors.prices import OverlayEntry, Usage

from .conftest import Harness

READ = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
WRITE = semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
# Distinct prices per kind: any token billed at the wrong rate changes the total.
RATES = {"input_per_mtok": 3.0, "output_per_mtok": 15.0, "cache_read_per_mtok": 0.3,
         "cache_write_per_mtok": 3.75}


def _overlay(harness: Harness, tmp_path, **rates: Any) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"match": "house-model", **rates}]}))
    harness.settings(prices_file=str(path))


def _cost(harness: Harness, **usage: Any) -> float:
    harness.exporter.clear()
    harness.llm("house-model", **usage)
    attrs = harness.span("chat house-model").attributes
    assert attrs[semconv.TRIPWIRE_COST_SOURCE] == semconv.COST_SOURCE_OVERRIDE
    return attrs[semconv.TRIPWIRE_COST_USD]


def test_fully_cached_prompt_bills_only_cache_reads(harness: Harness, tmp_path) -> None:
    _overlay(harness, tmp_path, **RATES)
    cost = _cost(harness, input_tokens=10_000, output_tokens=100, **{READ: 10_000})
    assert cost == pytest.approx((10_000 * 0.3 + 100 * 15.0) / 1e6, rel=1e-12)
    # one token fewer in the cache: that token is fresh input
    cost = _cost(harness, input_tokens=10_000, output_tokens=100, **{READ: 9_999})
    assert cost == pytest.approx((1 * 3.0 + 9_999 * 0.3 + 100 * 15.0) / 1e6, rel=1e-12)


def test_reads_plus_writes_equal_to_the_input_bill_no_fresh_input(harness: Harness,
                                                                  tmp_path) -> None:
    _overlay(harness, tmp_path, **RATES)
    cost = _cost(harness, input_tokens=10_000, output_tokens=0,
                 **{READ: 6_000, WRITE: 4_000})
    assert cost == pytest.approx((6_000 * 0.3 + 4_000 * 3.75) / 1e6, rel=1e-12)


def test_cache_larger_than_input_is_read_as_exclusive(harness: Harness, tmp_path) -> None:
    # a foreign span whose input count leaves the cache out: the input is all fresh
    _overlay(harness, tmp_path, **RATES)
    cost = _cost(harness, input_tokens=1_000, output_tokens=0, **{READ: 5_000, WRITE: 500})
    assert cost == pytest.approx((1_000 * 3.0 + 5_000 * 0.3 + 500 * 3.75) / 1e6, rel=1e-12)


def test_cache_without_its_own_rate_is_billed_as_input(harness: Harness, tmp_path) -> None:
    _overlay(harness, tmp_path, input_per_mtok=2.0, output_per_mtok=8.0)
    cost = _cost(harness, input_tokens=10_000, output_tokens=10,
                 **{READ: 4_000, WRITE: 1_000})
    assert cost == pytest.approx((10_000 * 2.0 + 10 * 8.0) / 1e6, rel=1e-12)


@pytest.mark.parametrize(("usage", "expected"), [
    (Usage(1000, 0, 1000, 0), Decimal("300")),  # fully cached: reads only
    (Usage(1000, 0, 600, 400), Decimal("600") * Decimal("0.3") + 400 * Decimal("3.75")),
    (Usage(1000, 0, 999, 0), Decimal("3") + 999 * Decimal("0.3")),
    (Usage(100, 0, 200, 0), 100 * Decimal("3") + 200 * Decimal("0.3")),
    # reads and writes together exceed the input (each alone does not): exclusive too
    (Usage(1000, 0, 800, 500), 1000 * Decimal("3") + 800 * Decimal("0.3")
     + 500 * Decimal("3.75")),
    (Usage(0, 7, 0, 0), 7 * Decimal("15")),
])
def test_overlay_cost_in_exact_decimals(usage: Usage, expected: Decimal) -> None:
    entry = OverlayEntry("m", input_per_mtok=Decimal("3"), output_per_mtok=Decimal("15"),
                         cache_read_per_mtok=Decimal("0.3"),
                         cache_write_per_mtok=Decimal("3.75"))
    assert entry.cost(usage) == expected / Decimal(1_000_000)


def test_an_entry_without_prices_costs_nothing_for_any_kind() -> None:
    entry = OverlayEntry("m", context_window=4096)
    assert not entry.priced
    assert entry.cost(Usage(1000, 1000, 500, 200)) == 0
    assert OverlayEntry("m", output_per_mtok=Decimal(1)).priced
    assert OverlayEntry("m", input_per_mtok=Decimal(0)).priced
