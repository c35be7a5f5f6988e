"""Prices at the request's real terms (service tier, batch, fast mode, one-hour cache writes,
the time of the call) on spans of any instrumentor, and unknown never counted as zero."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price, data_snapshot
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire._core.precall import PreCallInfo
from tripwire.processors.prices import PROVIDER_IDS, Price
from tripwire.processors.prices import Usage as TWUsage
from tripwire.runtime import get_runtime
from tripwire.settings import BudgetMode
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

from .conftest import Harness

# genai-prices providers we price (those gen_ai.provider.name values map to)
PRICED = sorted({pid for ids in PROVIDER_IDS.values() for pid in ids})
CONTEXTS: list[dict[str, str] | None] = [
    None, {"service_tier": "priority"}, {"service_tier": "flex"},
    {"service_tier": "batch", "processing": "batch"}, {"speed": "fast"}]


def _moments(model: Any) -> list[datetime]:
    """Now, and the first day of each of the model's dated prices (and the day before)."""
    moments = [datetime.now(timezone.utc)]
    dated = model.prices if isinstance(model.prices, list) else []
    for variant in [*dated, *(model.price_variants or ())]:
        start = getattr(getattr(variant, "constraint", None), "start_date", None)
        if start is not None:
            day = datetime(start.year, start.month, start.day, 12, tzinfo=timezone.utc)
            moments += [day, day - timedelta(days=1)]
    return moments


@pytest.mark.parametrize("terms", CONTEXTS, ids=lambda c: ",".join((c or {"": "standard"})
                                                                    .values()))
@pytest.mark.parametrize("provider_id", PRICED)
def test_cost_equals_calc_price_for_every_bundled_model(provider_id: str, terms) -> None:
    """Our price of random usage (cache reads, writes, one-hour writes) equals
    ``genai_prices.calc_price`` with the same time and price context, model by model."""
    snapshot = data_snapshot.get_snapshot()
    provider = next((p for p in snapshot.providers if p.id == provider_id), None)
    if provider is None:
        pytest.skip(f"genai-prices has no provider {provider_id}")
    rnd = random.Random(provider_id + str(terms))
    context_key = tuple(sorted((terms or {}).items()))
    checked = 0
    for model in provider.models:
        for when in _moments(model):
            inp = rnd.choice((rnd.randint(0, 150_000), rnd.randint(200_001, 1_200_000)))
            cr = rnd.randint(0, inp // 2)
            cw = rnd.randint(0, (inp - cr) // 4)
            one_hour = rnd.randint(0, cw)
            out = rnd.randint(0, 8000)
            try:
                ref = calc_price(Usage(input_tokens=inp, output_tokens=out,
                                       cache_read_tokens=cr or None,
                                       cache_write_tokens=cw or None,
                                       cache_write_1h_tokens=one_hour or None),
                                 model.id, provider_id=provider_id,
                                 genai_request_timestamp=when, price_context=terms)
            except LookupError:
                continue  # an id its own match rules do not take (``ft:`` prefixes)
            if ref.model is not model:
                continue  # its id matches another model first: that one is checked as such
            ours = Price("price_table", None, gp_provider=provider, gp_model=model).cost(
                TWUsage(inp, out, cr, cw, one_hour), when, context_key)
            assert abs(ours - ref.total_price) < Decimal("1e-12"), (model.id, when, terms)
            checked += 1
    assert checked


def test_tier_name_says_which_prices_applied() -> None:
    snapshot = data_snapshot.get_snapshot()
    openai = next(p for p in snapshot.providers if p.id == "openai")
    gpt5 = next(m for m in openai.models if m.id == "gpt-5")
    price = Price("price_table", None, gp_provider=openai, gp_model=gpt5)
    assert price.tier((("service_tier", "priority"),)) == "priority"
    assert price.tier((("service_tier", "flex"),)) == "flex"
    assert price.tier((("service_tier", "default"),)) == "standard"  # no price change
    assert price.tier((("service_tier", "no-such-tier"),)) == "standard"
    assert price.tier(()) == "standard"


# --- spans of any instrumentor --------------------------------------------------------------

def _gpt5(tier: str | None) -> float:
    return float(calc_price(Usage(input_tokens=1000, output_tokens=100), "gpt-5-2025-08-07",
                            provider_id="openai",
                            price_context={"service_tier": tier} if tier else None).total_price)


@pytest.mark.parametrize(("attrs", "tier"), [
    ({semconv.OPENAI_RESPONSE_SERVICE_TIER: "priority"}, "priority"),
    ({semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: "flex"}, "flex"),  # deprecated name
    ({semconv.OPENAI_REQUEST_SERVICE_TIER: "priority"}, "priority"),  # no answer tier
    # the tier that served the call wins over the one asked for
    ({semconv.OPENAI_REQUEST_SERVICE_TIER: "priority",
      semconv.OPENAI_RESPONSE_SERVICE_TIER: "default"}, "standard"),
    ({semconv.OPENAI_REQUEST_SERVICE_TIER: "auto"}, "standard"),
], ids=["response", "deprecated", "request-only", "served-wins", "auto"])
def test_foreign_span_tier_attributes(harness: Harness, attrs: dict[str, str], tier: str) -> None:
    harness.llm("gpt-5-2025-08-07", **attrs)
    a = harness.span("chat gpt-5-2025-08-07").attributes
    assert a[semconv.TRIPWIRE_COST_TIER] == tier
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        _gpt5(None if tier == "standard" else tier), abs=1e-12)


def test_overlay_prices_have_no_tier(harness: Harness, tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"models": [{"match": "gpt-5*", "input_per_mtok": 1, "output_per_mtok": 2}]}')
    harness.settings(prices_file=str(path))
    harness.llm("gpt-5-2025-08-07", **{semconv.OPENAI_RESPONSE_SERVICE_TIER: "priority"})
    a = harness.span("chat gpt-5-2025-08-07").attributes
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx((1000 * 1 + 100 * 2) / 1e6)
    assert semconv.TRIPWIRE_COST_TIER not in a


def test_the_price_of_the_day_of_the_request(harness: Harness) -> None:
    """A model whose price changed is priced at the one in force when its span started."""
    snapshot = data_snapshot.get_snapshot()
    found = next((p, m) for p in snapshot.providers if p.id == "openai" for m in p.models
                 if isinstance(m.prices, list) and len(m.prices) > 1
                 and m.prices[1].constraint is not None and m.prices[0].prices.input_mtok
                 != m.prices[1].prices.input_mtok)
    _, model = found
    start = model.prices[1].constraint.start_date
    before = datetime(start.year, start.month, start.day, tzinfo=timezone.utc) - timedelta(days=2)
    for when in (before, datetime.now(timezone.utc)):
        span = harness.tracer.start_span(
            f"chat {model.id}", kind=SpanKind.CLIENT, start_time=int(when.timestamp() * 1e9),
            attributes={semconv.GEN_AI_OPERATION_NAME: "chat",
                        semconv.GEN_AI_PROVIDER_NAME: "openai",
                        semconv.GEN_AI_REQUEST_MODEL: model.id,
                        semconv.GEN_AI_USAGE_INPUT_TOKENS: 10_000,
                        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 1_000})
        span.end()
    old, new = (s.attributes[semconv.TRIPWIRE_COST_USD] for s in harness.spans())
    for got, when in ((old, before), (new, datetime.now(timezone.utc))):
        ref = calc_price(Usage(input_tokens=10_000, output_tokens=1_000), model.id,
                         provider_id="openai", genai_request_timestamp=when)
        assert got == pytest.approx(float(ref.total_price), abs=1e-12)
    assert old != new


openai_v2 = pytest.importorskip("opentelemetry.instrumentation.openai_v2")


@pytest.fixture
def official(harness: Harness) -> Iterator[FakeOpenAIServer]:
    instrumentor = openai_v2.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=harness.provider,
                            meter_provider=harness.meter_provider)
    try:
        with FakeOpenAIServer() as server:
            yield server
    finally:
        instrumentor.uninstrument()


def test_official_instrumentor_priority_chat_is_priced_at_priority(
        harness: Harness, official: FakeOpenAIServer) -> None:
    official.enqueue(chat_reply(content="ok", usage=(1000, 100)))
    official.client().chat.completions.create(
        model="gpt-5-2025-08-07", messages=[{"role": "user", "content": "x"}],
        service_tier="priority")
    (span,) = [s for s in harness.spans() if s.attributes.get(semconv.GEN_AI_OPERATION_NAME)]
    a = span.attributes
    assert "priority" in (a.get(semconv.OPENAI_RESPONSE_SERVICE_TIER),
                          a.get(semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER))
    assert a[semconv.TRIPWIRE_COST_TIER] == "priority"
    assert a[semconv.TRIPWIRE_COST_USD] == pytest.approx(_gpt5("priority"), abs=1e-12)


# --- unknown is never zero --------------------------------------------------------------------

def test_rollup_counts_what_it_could_not_price(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
        harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=100)  # priced
        harness.llm("my-finetune-7b")  # no price
        harness.llm("gpt-4o", input_tokens=None, output_tokens=None)  # no usage
        harness.llm("gpt-4o", input_tokens=500, output_tokens=None)  # output unknown
        harness.llm("gpt-4o", input_tokens=None, output_tokens=None,  # failed: not billed
                    **{semconv.ERROR_TYPE: "RateLimitError"})
    spans = [s for s in harness.spans() if s.name == "chat gpt-4o"]
    no_usage, partial, failed = (s.attributes for s in spans)
    assert no_usage[semconv.TRIPWIRE_COST_UNPRICED] is True
    assert no_usage[semconv.TRIPWIRE_COST_UNPRICED_REASON] == semconv.UNPRICED_REASON_UNKNOWN_USAGE
    assert harness.span("chat my-finetune-7b").attributes[
        semconv.TRIPWIRE_COST_UNPRICED_REASON] == semconv.UNPRICED_REASON_UNKNOWN_MODEL
    assert partial[semconv.TRIPWIRE_USAGE_INCOMPLETE] is True
    assert semconv.TRIPWIRE_COST_UNPRICED not in failed
    assert semconv.TRIPWIRE_COST_USD not in failed
    root = harness.span("POST /chat").attributes
    priced = (float(calc_price(Usage(input_tokens=1000, output_tokens=100), "gpt-4o-mini",
                               provider_id="openai").total_price)
              + float(calc_price(Usage(input_tokens=500), "gpt-4o",
                                 provider_id="openai").total_price))
    assert root[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 5
    assert root[semconv.TRIPWIRE_TRACE_COST_USD] == pytest.approx(priced)
    assert root[semconv.TRIPWIRE_TRACE_UNPRICED_CALLS] == 2
    assert root[semconv.TRIPWIRE_TRACE_USAGE_UNKNOWN_CALLS] == 2
    assert root[semconv.TRIPWIRE_TRACE_INPUT_TOKENS] == 1000 + 1000 + 500
    assert root[semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS] == 100 + 100


def test_nothing_priced_means_no_trace_cost(harness: Harness) -> None:
    """The issue's case: a call whose usage is unknown. The root said cost 0.0 and tokens 0;
    it now says one call, unpriced, with unknown usage, and no totals it cannot know."""
    with harness.tracer.start_as_current_span("job"):
        harness.llm("amazon.titan-text-express-v1", provider="aws.bedrock", input_tokens=None,
                    output_tokens=None)
    root = harness.span("job").attributes
    assert root[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 1
    assert root[semconv.TRIPWIRE_TRACE_UNPRICED_CALLS] == 1
    assert root[semconv.TRIPWIRE_TRACE_USAGE_UNKNOWN_CALLS] == 1
    for key in (semconv.TRIPWIRE_TRACE_COST_USD, semconv.TRIPWIRE_TRACE_INPUT_TOKENS,
                semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS):
        assert key not in root


def test_unpriced_call_under_a_budget_is_flagged(harness: Harness) -> None:
    harness.settings(budget_trace_usd=1.0)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("my-finetune-7b")
        harness.llm("gpt-4o-mini")
    assert harness.span("chat my-finetune-7b").attributes[semconv.TRIPWIRE_BUDGET_UNPRICED] is True
    assert semconv.TRIPWIRE_BUDGET_UNPRICED not in harness.span("chat gpt-4o-mini").attributes


def test_enforce_mode_charges_the_estimate_when_usage_is_unknown(harness: Harness) -> None:
    """A call reserved its estimate before it was sent and ended without usage: the estimate
    is charged (and marked), not 0."""
    harness.settings(budget_trace_usd=1.0, budget_mode=BudgetMode.ENFORCE)
    runtime = get_runtime()
    with harness.tracer.start_as_current_span("job"):
        span = harness.tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"})
        ctx = trace.set_span_in_context(span, context.get_current())
        reservation = runtime.before_call(PreCallInfo("chat", "openai", "gpt-4o", ctx))
        assert reservation is not None and reservation.usd > 0
        sc = span.get_span_context()
        runtime.hold(reservation, sc.trace_id, sc.span_id)
        span.end()
        trace_id = sc.trace_id
    a = harness.span("chat gpt-4o").attributes
    assert a[semconv.TRIPWIRE_COST_UNPRICED] is True
    assert a[semconv.TRIPWIRE_BUDGET_ESTIMATED] is True
    from tripwire.processors.ledger import ScopeKeys, scopes
    [scope] = scopes(runtime.budget_rules(harness.settings(
        budget_trace_usd=1.0, budget_mode=BudgetMode.ENFORCE)),
        ScopeKeys(format(trace_id, "032x"), None, None, None))
    assert runtime.ledger.spent(scope)[0] == pytest.approx(reservation.usd)
