"""Overlay prices at the cache boundaries: a fully cached prompt (cache reads, or reads plus
writes, equal to the input count) bills no fresh input, and a foreign count that excludes
the cache is added up, not subtracted (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from tripwire import semconv
from tripwire.processors.prices import (
    OverlayEntry,
    Price,
    PriceBook,
    Usage,
    _bare_bedrock_name,
    _genai_find,
    _genai_lookup,
)

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


# --- the price book: which price and window a (provider, model) gets -----------------------

def _snapshot() -> Any:
    from genai_prices import data_snapshot
    return data_snapshot.get_snapshot()


@pytest.mark.parametrize(("model", "bare"), [
    ("claude-3-5-sonnet-20240620", True),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", False),
    ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", False),
    # only the last path segment of an ARN counts, whatever the dots before it
    ("arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-v1", False),
    ("arn:aws.x/claude-3-5-sonnet", True),
    ("a.b/c.d/claude-3-5-sonnet", True),
    ("a/b.c/claude", True),
])
def test_bare_bedrock_names(model: str, bare: bool) -> None:
    assert _bare_bedrock_name(semconv.PROVIDER_AWS_BEDROCK, model) is bare
    assert _bare_bedrock_name(semconv.PROVIDER_ANTHROPIC, model) is False
    assert _bare_bedrock_name(None, model) is False


def test_a_bare_bedrock_name_stays_unpriced_though_the_table_matches_it() -> None:
    book = PriceBook()
    # genai-prices would match the bare name to the regional Bedrock price
    assert _genai_lookup("aws", "claude-3-5-sonnet-20240620") is not None
    assert book.lookup(semconv.PROVIDER_AWS_BEDROCK, "claude-3-5-sonnet-20240620") is None
    price = book.lookup(semconv.PROVIDER_AWS_BEDROCK, "anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert price is not None and price.gp_provider.id == "aws"
    # the same bare name from another provider is priced
    other = book.lookup(semconv.PROVIDER_ANTHROPIC, "claude-3-5-sonnet-20240620")
    assert other is not None and other.gp_provider.id == "anthropic"


def test_genai_find_per_provider() -> None:
    snap = _snapshot()
    # a semconv name maps to genai-prices' ids, in order
    found = _genai_find(snap, semconv.PROVIDER_AZURE_INFERENCE, "gpt-4o")
    assert found is not None and found[0].id == "azure"
    found = _genai_find(snap, semconv.PROVIDER_GCP_GEMINI, "gemini-2.5-pro")
    assert found is not None and found[0].id == "google"
    # a genai-prices id that is not a semconv name is tried as it is
    found = _genai_find(snap, "azure", "gpt-4o")
    assert found is not None and found[0].id == "azure"
    # a provider genai-prices knows, without the model: unpriced, not another's price
    assert _genai_find(snap, "azure", "gemini-2.5-pro") is None
    assert _genai_find(snap, semconv.PROVIDER_OPENAI, "claude-3-5-sonnet-20240620") is None
    # no provider, or one genai-prices does not know: the model across providers
    for provider in (None, "", "my-gateway"):
        found = _genai_find(snap, provider, "gpt-4o")
        assert found is not None and found[1].id == "gpt-4o", provider
    assert _genai_find(snap, None, "no-such-model-anywhere") is None


def test_resolve_each_branch() -> None:
    book = PriceBook((
        OverlayEntry("house-*", provider="openai", input_per_mtok=Decimal(1)),
        OverlayEntry("win-*", context_window=1000),
        OverlayEntry("win-model", context_window=2000),
        OverlayEntry("win-model", input_per_mtok=Decimal(2), context_window=3000),
        OverlayEntry("gpt-4o", context_window=5000),
        OverlayEntry("win-only", context_window=7000),
    ))
    # an overlay price wins, with its own window (not an earlier window-only entry's)
    assert book.lookup("openai", "house-x") == Price(
        semconv.COST_SOURCE_OVERRIDE, None, overlay=book.overlay[0])
    assert book.lookup(None, "house-x") == Price(
        semconv.COST_SOURCE_OVERRIDE, None, overlay=book.overlay[0])
    assert book.lookup("win-model-provider", "win-model") == Price(
        semconv.COST_SOURCE_OVERRIDE, 3000, overlay=book.overlay[3])
    # another provider's overlay entry does not apply
    assert book.lookup("anthropic", "house-x") is None
    # window-only entries: the first one's window, no price
    price = book.lookup(None, "win-only")
    assert price == Price(semconv.COST_SOURCE_OVERRIDE, 1000)
    assert not price.priced
    # a window-only entry over a table price: the table's price with the overlay's window
    price = book.lookup("openai", "gpt-4o")
    assert price is not None and price.source == semconv.COST_SOURCE_PRICE_TABLE
    assert price.context_window == 5000 and price.gp_model.id == "gpt-4o"
    # the table's window otherwise
    price = PriceBook().lookup("openai", "gpt-4o")
    assert price is not None and price.context_window == 128_000
    assert price.context_window == price.gp_model.context_window
    assert price.gp_provider.id == "openai"
    assert PriceBook().lookup("openai", "no-such-model") is None


def test_for_span_pairs() -> None:
    book = PriceBook((OverlayEntry("m", provider="anthropic", context_window=1000),))
    assert book.for_span(None, None, None) == (None, None)
    assert book.for_span("openai", "nope-1", "nope-2") == (None, None)
    # the anthropic entry is not the openai call's window
    assert book.for_span("openai", "m", None) == (None, None)
    assert book.for_span("anthropic", "m", None) == (
        Price(semconv.COST_SOURCE_OVERRIDE, 1000), 1000)
    # the response model priced first; the window of the first that has one
    price, window = book.for_span("openai", "gpt-4o", "gpt-4o-mini")
    assert price is not None and price.gp_model.id == "gpt-4o" and window == 128_000
    price, window = book.for_span("openai", "nope", "gpt-4o-mini")
    assert price is not None and price.gp_model.id == "gpt-4o-mini" and window == 128_000
    assert book.for_span("openai", "nope", "gpt-4o-mini") == (price, window)  # cached


def test_overlay_entry_provider_and_pattern() -> None:
    entry = OverlayEntry("GPT-*", provider="openai")
    assert entry.matches("openai", "gpt-4o") and entry.matches(None, "gpt-4o")
    assert not entry.matches("anthropic", "gpt-4o")
    assert not entry.matches("openai", "claude")
    plain = OverlayEntry("gpt-4o")
    assert plain.matches("anthropic", "GPT-4o") and not plain.matches(None, "gpt-4o-mini")


def _claude(**kw: Any) -> tuple[Price, Any]:
    book = PriceBook()
    price = book.lookup("anthropic", "claude-3-5-sonnet-20240620")
    assert price is not None
    return price, price.gp_model


@pytest.mark.parametrize(("usage", "gp"), [
    # semconv counts include the cache; a fully cached prompt is not "exclusive"
    (Usage(1000, 10, 1000, 0), dict(input_tokens=1000, output_tokens=10, cache_read_tokens=1000)),
    (Usage(1000, 10, 600, 400), dict(input_tokens=1000, output_tokens=10, cache_read_tokens=600,
                                     cache_write_tokens=400)),
    # reads + writes above the input: the input excluded them, so they are added
    (Usage(1000, 10, 800, 500), dict(input_tokens=2300, output_tokens=10, cache_read_tokens=800,
                                     cache_write_tokens=500)),
    (Usage(100, 0, 0, 300), dict(input_tokens=400, cache_write_tokens=300)),
    # one-hour writes are a part of the writes, at their own rate
    (Usage(10_000, 0, 0, 3000, 1000), dict(input_tokens=10_000, cache_write_tokens=3000,
                                           cache_write_1h_tokens=1000)),
])
def test_table_price_at_the_cache_boundaries(usage: Usage, gp: dict[str, int]) -> None:
    from genai_prices import Usage as GPUsage
    price, model = _claude()
    expected = model.calc_price(GPUsage(**gp), price.gp_provider).total_price
    assert price.cost(usage, None) == expected


def test_one_hour_cache_writes_of_a_span(harness: Harness) -> None:
    from genai_prices import Usage as GPUsage
    price, model = _claude()
    harness.llm("claude-3-5-sonnet-20240620", provider="anthropic", input_tokens=10_000,
                output_tokens=0, **{WRITE: 3000,
                                    semconv.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS: 1000})
    attrs = harness.span("chat claude-3-5-sonnet-20240620").attributes
    expected = model.calc_price(GPUsage(input_tokens=10_000, cache_write_tokens=3000,
                                        cache_write_1h_tokens=1000), price.gp_provider)
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(float(expected.total_price),
                                                             rel=1e-12)


@pytest.mark.parametrize(("total_input", "rate"), [
    (199_999, "1.25"), (200_000, "1.25"), (200_001, "2.5")])
def test_a_long_context_tier_applies_above_its_start(total_input: int, rate: str) -> None:
    # gemini-2.5-pro: 2.5 USD/MTok for the whole prompt once it exceeds 200k tokens
    price = PriceBook().lookup(semconv.PROVIDER_GCP_GEMINI, "gemini-2.5-pro")
    assert price is not None
    tier = price.gp_model.prices.input_mtok.tiers[0]
    assert (tier.start, tier.price) == (200_000, Decimal("2.5"))
    assert price.cost(Usage(total_input, 0), None) == total_input * Decimal(rate) / 1_000_000


@pytest.mark.parametrize("model", ["o3", "o4-mini"])
@pytest.mark.parametrize("terms", [
    (("service_tier", "flex"),), (("service_tier", "priority"),),
    (("processing", "batch"), ("service_tier", "batch")), ()])
def test_a_request_tier_priced_as_calc_price_prices_it(model: str, terms: tuple) -> None:
    # a tier's own prices, cache reads included, exactly as genai-prices' calc_price has them
    from genai_prices import Usage as GPUsage
    from genai_prices import calc_price
    when = datetime(2026, 11, 2, tzinfo=timezone.utc)
    price = PriceBook().lookup(semconv.PROVIDER_OPENAI, model)
    assert price is not None
    usage = Usage(10_000, 500, 4_000, 0)
    expected = calc_price(GPUsage(input_tokens=10_000, output_tokens=500, cache_read_tokens=4000),
                          model, provider_id="openai", genai_request_timestamp=when,
                          price_context=dict(terms) or None).total_price
    assert price.cost(usage, when, terms) == expected
    if terms and terms[0][1] in ("flex", "priority"):  # a price of its own, not the standard
        assert expected != calc_price(GPUsage(input_tokens=10_000, output_tokens=500,
                                              cache_read_tokens=4000), model,
                                      provider_id="openai",
                                      genai_request_timestamp=when).total_price


def test_a_dated_tier_is_resolved_again_for_each_request() -> None:
    # one Price serves a long-lived process: a tier that starts on 2026-10-12 must not keep
    # the answer of a request made before that day
    price = PriceBook().lookup(semconv.PROVIDER_OPENAI, "gpt-4o")
    assert price is not None
    terms = (("service_tier", "priority"),)
    before = datetime(2026, 10, 11, 12, tzinfo=timezone.utc)
    after = datetime(2026, 10, 13, 12, tzinfo=timezone.utc)
    assert price.tier(terms, before) == "standard"
    assert price.tier(terms, after) == "priority"
    assert price.tier(terms, before) == "standard"
    assert price.cost(Usage(1000, 0), after, terms) > price.cost(Usage(1000, 0), before, terms)


def _house_price() -> Price:
    """A synthetic genai-prices model of the kind no bundled one is: priced per request too
    (so genai-prices' own calc_price prices it), with every cache rate, a dated price change
    and two request tiers, one of them named by two request terms."""
    from datetime import date

    from genai_prices.types import (
        ClauseEquals,
        ConditionalPrice,
        ModelInfo,
        ModelPrice,
        PriceVariant,
        Provider,
        StartDateConstraint,
    )

    def prices(scale: int) -> ModelPrice:
        return ModelPrice(input_mtok=Decimal(1) * scale, output_mtok=Decimal(2) * scale,
                          cache_read_mtok=Decimal("0.1") * scale,
                          cache_write_mtok=Decimal("1.25") * scale,
                          cache_write_1h_mtok=Decimal(2) * scale, requests_kcount=Decimal(10))

    model = ModelInfo(
        id="house", match=ClauseEquals(equals="house"),
        prices=[ConditionalPrice(prices=prices(1)),
                ConditionalPrice(constraint=StartDateConstraint(start_date=date(2026, 6, 1)),
                                 prices=prices(3))],
        price_variants=[
            PriceVariant(when={"service_tier": "flex"},
                         prices=ModelPrice(input_mtok=Decimal("0.5"))),
            PriceVariant(when={"processing": "batch", "region": "eu"},
                         prices=ModelPrice(output_mtok=Decimal(1)))])
    provider = Provider(id="house-provider", name="House", api_pattern="house", models=[model])
    return Price(semconv.COST_SOURCE_PRICE_TABLE, None, gp_provider=provider, gp_model=model)


_BEFORE = datetime(2026, 5, 31, 23, tzinfo=timezone.utc)  # the day before the price change
_AFTER = datetime(2026, 6, 1, 1, tzinfo=timezone.utc)
# 1M input (500k fresh, 200k cache reads, 300k cache writes of which 100k for one hour),
# 1M output
_ALL_KINDS = Usage(1_000_000, 1_000_000, 200_000, 300_000, 100_000)


@pytest.mark.parametrize(("when", "terms", "expected"), [
    # 0.5 fresh input + 0.02 reads + 0.25 writes + 0.2 one-hour writes + 2 output
    # + 0.01 for the request (10 USD per thousand)
    (_BEFORE, (), "2.98"),
    (_AFTER, (), "8.92"),  # every token rate tripled from that day on, the request fee not
    (_BEFORE, (("service_tier", "flex"),), "2.73"),  # the tier's input rate: 0.25
    (_BEFORE, (("processing", "batch"), ("region", "eu")), "1.98"),  # its output rate: 1
    (_BEFORE, (("processing", "batch"),), "2.98"),  # one of its two terms: standard
])
def test_a_price_only_calc_price_can_price(when: datetime, terms: tuple,
                                           expected: str) -> None:
    assert _house_price().cost(_ALL_KINDS, when, terms) == Decimal(expected)


def test_each_cache_kind_of_a_calc_price_price_at_its_own_rate() -> None:
    price = _house_price()
    # (input, output, cache reads, writes, one-hour writes): 10k input each, 0.01 per request
    assert price.cost(Usage(10_000, 0), _BEFORE) == Decimal("0.02")
    assert price.cost(Usage(10_000, 0, 10_000), _BEFORE) == Decimal("0.011")
    assert price.cost(Usage(10_000, 0, 0, 10_000), _BEFORE) == Decimal("0.0225")
    assert price.cost(Usage(10_000, 0, 0, 10_000, 10_000), _BEFORE) == Decimal("0.03")


def test_the_tier_of_a_variant_named_by_two_terms() -> None:
    price = _house_price()
    terms = (("processing", "batch"), ("region", "eu"))
    assert price.tier(terms, _BEFORE) == "batch,eu"
    assert price.tier((("service_tier", "flex"),), _BEFORE) == "flex"
    assert price.tier((("processing", "batch"),), _BEFORE) == "standard"
