"""Cost, rollup and metrics on spans written by a hand-made "foreign" instrumentor."""

from __future__ import annotations

import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry import baggage, context
from opentelemetry.trace import SpanKind

from tripwire import semconv

from .conftest import Harness


def _genai_prices(model: str, provider_id: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id=provider_id).total_price)


def test_cost_matches_genai_prices(harness: Harness) -> None:
    harness.llm("gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18",
                input_tokens=12345, output_tokens=678)
    attrs = harness.span("chat gpt-4o-mini").attributes
    expected = _genai_prices("gpt-4o-mini-2024-07-18", "openai",
                             input_tokens=12345, output_tokens=678)
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(expected, abs=1e-9)
    assert attrs[semconv.TRIPWIRE_COST_SOURCE] == semconv.COST_SOURCE_PRICE_TABLE
    assert semconv.TRIPWIRE_COST_UNPRICED not in attrs
    # the original attributes are all still there
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12345
    [(point_attrs, value)] = harness.points(semconv.METRIC_COST)
    assert value == pytest.approx(expected)
    assert point_attrs == {
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
    }


def test_cache_aware_cost(harness: Harness) -> None:
    # semconv input_tokens include cached tokens, as genai-prices' input_tokens do
    harness.llm("claude-sonnet-4-5", provider="anthropic", input_tokens=10000,
                output_tokens=500, **{semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 6000,
                                      semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 2000})
    cost = harness.span("chat claude-sonnet-4-5").attributes[semconv.TRIPWIRE_COST_USD]
    expected = _genai_prices("claude-sonnet-4-5", "anthropic", input_tokens=10000,
                             output_tokens=500, cache_read_tokens=6000, cache_write_tokens=2000)
    assert cost == pytest.approx(expected, abs=1e-9)
    uncached = _genai_prices("claude-sonnet-4-5", "anthropic", input_tokens=10000,
                             output_tokens=500)
    assert cost < uncached  # cache reads are cheaper than fresh input


def test_provider_name_mapping_and_deprecated_system(harness: Harness) -> None:
    harness.llm("gemini-2.0-flash", provider=None, system="gcp.gemini")
    harness.llm("grok-3", provider="x_ai")
    harness.llm("gpt-4o", provider="azure.ai.openai")
    for name, model, pid in (("chat gemini-2.0-flash", "gemini-2.0-flash", "google"),
                             ("chat grok-3", "grok-3", "x-ai"),
                             ("chat gpt-4o", "gpt-4o", "azure")):
        attrs = harness.span(name).attributes
        assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(
            _genai_prices(model, pid, input_tokens=1000, output_tokens=100), abs=1e-9), name


def test_embeddings_are_priced(harness: Harness) -> None:
    harness.llm("text-embedding-3-small", operation="embeddings", input_tokens=5000,
                output_tokens=None)
    attrs = harness.span("embeddings text-embedding-3-small").attributes
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        _genai_prices("text-embedding-3-small", "openai", input_tokens=5000), abs=1e-12)


def test_unknown_model_is_unpriced_not_zero(harness: Harness) -> None:
    harness.llm("my-finetune-7b", provider="openai")
    attrs = harness.span("chat my-finetune-7b").attributes
    assert attrs[semconv.TRIPWIRE_COST_UNPRICED] is True
    assert semconv.TRIPWIRE_COST_USD not in attrs
    assert harness.points(semconv.METRIC_COST) == []


def test_non_genai_spans_pass_through_untouched(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("GET /health") as span:
        span.set_attribute("http.route", "/health")
    [span] = harness.spans()
    assert dict(span.attributes) == {"http.route": "/health"}


def test_overlay_file_json_and_yaml(harness: Harness, tmp_path) -> None:
    doc = {"models": [
        {"match": "my-finetune-7b", "input_per_mtok": 1.0, "output_per_mtok": 2.0,
         "cache_read_per_mtok": 0.25, "context_window": 32000},
        {"match": "gpt-4o-mini*", "provider": "openai", "input_per_mtok": 0.1,
         "output_per_mtok": 0.2},
    ]}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(doc))
    harness.settings(prices_file=str(path))
    harness.llm("my-finetune-7b", input_tokens=10000, output_tokens=1000,
                **{semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4000})
    attrs = harness.span("chat my-finetune-7b").attributes
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        (6000 * 1.0 + 4000 * 0.25 + 1000 * 2.0) / 1e6)
    assert attrs[semconv.TRIPWIRE_COST_SOURCE] == semconv.COST_SOURCE_OVERRIDE
    assert attrs[semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == 32000
    harness.llm("gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18")
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx((1000 * 0.1 + 100 * 0.2) / 1e6)

    yaml_path = tmp_path / "prices.yaml"
    yaml_path.write_text("models:\n  - match: local-llama\n    input_per_mtok: 0\n"
                         "    output_per_mtok: 0.5\n")
    harness.settings(prices_file=str(yaml_path))
    harness.llm("local-llama", provider="openai", output_tokens=2000)
    attrs = harness.span("chat local-llama").attributes
    assert attrs[semconv.TRIPWIRE_COST_USD] == pytest.approx(0.001)
    assert Decimal(str(attrs[semconv.TRIPWIRE_COST_USD])) == Decimal("0.001")


def test_rollup_on_local_root_with_nested_spans(harness: Harness) -> None:
    token = context.attach(baggage.set_baggage(semconv.BAGGAGE_FEATURE, "support-bot"))
    try:
        with harness.tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
            with harness.tracer.start_as_current_span("invoke_agent helper"):
                harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=100)
                with harness.tracer.start_as_current_span("execute_tool search"):
                    harness.llm("gpt-4o", input_tokens=2000, output_tokens=200)
            harness.llm("my-finetune-7b")  # unpriced: counted as a call, not as cost
    finally:
        context.detach(token)
    root = harness.span("POST /chat").attributes
    c1 = _genai_prices("gpt-4o-mini", "openai", input_tokens=1000, output_tokens=100)
    c2 = _genai_prices("gpt-4o", "openai", input_tokens=2000, output_tokens=200)
    assert root[semconv.TRIPWIRE_TRACE_COST_USD] == pytest.approx(c1 + c2)
    assert root[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 3
    assert root[semconv.TRIPWIRE_TRACE_INPUT_TOKENS] == 4000
    assert root[semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS] == 400
    assert root[semconv.TRIPWIRE_TRACE_UNPRICED_CALLS] == 1
    # intermediate spans are not rolled up
    assert semconv.TRIPWIRE_TRACE_COST_USD not in harness.span("invoke_agent helper").attributes
    # feature from baggage is a metric dimension and a span attribute
    assert harness.span("chat gpt-4o").attributes[semconv.TRIPWIRE_FEATURE] == "support-bot"
    features = {attrs.get(semconv.TRIPWIRE_FEATURE) for attrs, _ in
                harness.points(semconv.METRIC_COST)}
    assert features == {"support-bot"}
    # the per-trace table is released when the local root ends
    from tripwire.runtime import get_runtime
    assert len(get_runtime().state.traces) == 0


def test_feature_from_http_route_of_local_root(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("POST", kind=SpanKind.SERVER) as root:
        root.set_attribute(semconv.HTTP_ROUTE, "/v1/summarize")
        harness.llm("gpt-4o-mini")
    [(attrs, _)] = harness.points(semconv.METRIC_COST)
    assert attrs[semconv.TRIPWIRE_FEATURE] == "/v1/summarize"


def test_feature_from_settings(harness: Harness) -> None:
    harness.settings(feature="batch-job")
    harness.llm("gpt-4o-mini")
    [(attrs, _)] = harness.points(semconv.METRIC_COST)
    assert attrs[semconv.TRIPWIRE_FEATURE] == "batch-job"


def test_single_llm_span_as_root_rolls_up_itself(harness: Harness) -> None:
    harness.llm("gpt-4o-mini")
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert attrs[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 1
    assert attrs[semconv.TRIPWIRE_TRACE_COST_USD] == attrs[semconv.TRIPWIRE_COST_USD]


def _agrees_with_calc_price(provider: Any, model: Any, inp: int, rnd: random.Random,
                            when: datetime) -> None:
    """Our price for random usage with ``inp`` input tokens equals genai-prices' calc_price."""
    from tripwire.processors.prices import Price
    from tripwire.processors.prices import Usage as TWUsage

    cr = rnd.randint(0, inp // 2)
    cw = rnd.randint(0, (inp - cr) // 4)
    out = rnd.randint(0, 4000)
    ref = model.calc_price(Usage(input_tokens=inp, output_tokens=out,
                                 cache_read_tokens=cr or None, cache_write_tokens=cw or None),
                           provider, genai_request_timestamp=when).total_price
    got = Price("price_table", None, gp_provider=provider, gp_model=model).cost(
        TWUsage(inp, out, cr, cw), when)
    assert abs(got - ref) < Decimal("1e-12"), (provider.id, model.id, inp)


def test_every_bundled_model_agrees_with_calc_price() -> None:
    """Our flat-rate shortcut and the calc_price fallback give genai-prices' numbers."""
    from datetime import timezone

    from genai_prices import data_snapshot

    rnd = random.Random(7)
    when = datetime.now(timezone.utc)
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            _agrees_with_calc_price(provider, model, rnd.randint(0, 200_000), rnd, when)
            checked += 1
    assert checked > 1000


def test_tiered_prices_agree_with_calc_price_across_the_tiers() -> None:
    """Long-context tiers (Claude, Gemini…) take the shortcut too: the tier the total input
    crosses applies to every token, as in genai-prices."""
    from datetime import timezone

    from genai_prices import data_snapshot

    from tripwire.processors.prices import _flat_rates

    rnd = random.Random(11)
    when = datetime.now(timezone.utc)
    tiered = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            rates = _flat_rates(model.get_prices(when))
            if not rates or not any(type(r).__name__ == "TieredPrices" for r in rates):
                continue
            tiered += 1
            for inp in (rnd.randint(0, 150_000), rnd.randint(200_001, 1_500_000)):
                _agrees_with_calc_price(provider, model, inp, rnd, when)
    assert tiered > 10
