"""Budgets, exactly: a limit reached at exactly its amount, the warning at exactly its ratio,
crossed once (by the span that crossed it), refusals at the boundary, which scopes a call
charges, idempotent settlement, and what the LLM span says (docs/testing.md, "Mutation
testing")."""

from __future__ import annotations

import json

import pytest

from tripwire import semconv
from tripwire.budgets import BudgetRule
from tripwire.processors.ledger import (
    Crossing,
    InMemoryLedger,
    Reservation,
    ScopeKeys,
    Spend,
    crossings,
    refusal,
    rules_from,
    scopes,
)
from tripwire.settings import Settings

from .conftest import Harness

USD = BudgetRule("spend", "user", usd=1.0)
TOKENS = BudgetRule("tokens", "conversation", tokens=1000)
BOTH = BudgetRule("both", "global", usd=2.0, tokens=100)


def _spend(rule: BudgetRule, before: tuple[float, int], after: tuple[float, int]) -> Spend:
    return Spend(rule, "k", before, after)


@pytest.mark.parametrize(("before", "after", "expected"), [
    ((0.0, 0), (1.0, 0), [("usd", 1.0, True, True)]),  # exactly the limit: exceeded
    ((0.5, 0), (0.999, 0), [("usd", 0.999, False, True)]),  # past the 0.8 warning
    ((0.0, 0), (0.8, 0), [("usd", 0.8, False, True)]),  # exactly the warning ratio
    ((0.0, 0), (0.79, 0), []),
    ((0.8, 0), (0.9, 0), []),  # the warning was passed before: not again
    ((0.79, 0), (0.8, 0), [("usd", 0.8, False, True)]),
    ((1.0, 0), (1.5, 0), [("usd", 1.5, True, False)]),  # already over: exceeded, not crossed
    ((0.99, 0), (1.0, 0), [("usd", 1.0, True, True)]),
])
def test_usd_limit_and_warning_boundaries(before, after, expected) -> None:
    found = crossings([_spend(USD, before, after)], 0.8)
    assert [(c.unit, c.spent, c.exceeded, c.crossed) for c in found] == expected
    for crossing in found:
        assert crossing.limit == 1.0 and crossing.rule is USD and crossing.scope_key == "k"


@pytest.mark.parametrize(("before", "after", "expected"), [
    (0, 1000, [("tokens", 1000, True, True)]),
    (0, 999, [("tokens", 999, False, True)]),
    (0, 500, [("tokens", 500, False, True)]),  # exactly half, with a 0.5 ratio
    (0, 499, []),
    (500, 600, []),
    (1000, 1001, [("tokens", 1001, True, False)]),
])
def test_token_limit_and_warning_boundaries(before, after, expected) -> None:
    found = crossings([_spend(TOKENS, (0.0, before), (0.0, after))], 0.5)
    assert [(c.unit, c.spent, c.exceeded, c.crossed) for c in found] == expected


def test_both_units_of_one_rule_and_several_spends() -> None:
    found = crossings([_spend(BOTH, (0.0, 0), (2.0, 100)), _spend(USD, (0.0, 0), (1.0, 0))], 0.8)
    assert [(c.rule.name, c.unit, c.limit) for c in found] == [
        ("both", "usd", 2.0), ("both", "tokens", 100), ("spend", "usd", 1.0)]


@pytest.mark.parametrize(("rule", "committed", "expected"), [
    (USD, (1.0, 0), ("usd", 1.0, 1.0)),
    (USD, (0.999, 10**9), None),
    (TOKENS, (99.0, 1000), ("tokens", 1000, 1000)),
    (TOKENS, (99.0, 999), None),
    (BOTH, (2.0, 100), ("usd", 2.0, 2.0)),  # the usd limit is named first
    (BOTH, (1.0, 100), ("tokens", 100, 100)),
])
def test_refusal_at_exactly_the_limit(rule, committed, expected) -> None:
    found = refusal(rule, "key", committed)
    if expected is None:
        assert found is None
    else:
        assert found == Crossing(rule, "key", expected[0], expected[1], expected[2], True,
                                 False)


def test_the_scopes_a_call_charges() -> None:
    rules = [BudgetRule("t", "trace", usd=1), BudgetRule("c", "conversation", usd=1),
             BudgetRule("u", "user", usd=1), BudgetRule("f", "feature", usd=1),
             BudgetRule("g", "global", usd=1), BudgetRule("a", "agent", usd=1)]
    keys = ScopeKeys("trace-1", None, "user-1", "checkout", ("run-inner", "run-outer"))
    assert [(rule.name, key) for rule, key in scopes(rules, keys)] == [
        ("t", "trace-1"), ("u", "user-1"), ("f", "checkout"), ("g", ""),
        ("a", "run-inner"), ("a", "run-outer")]
    assert ScopeKeys(None, None, None, None).key("global") == ""
    assert ScopeKeys(None, "c", None, None).key("conversation") == "c"
    assert ScopeKeys(None, None, None, None).key("nonsense") is None


def test_rules_from_settings() -> None:
    assert rules_from(Settings()) == ()
    assert rules_from(Settings(budget_trace_tokens=50)) == (
        BudgetRule("trace", "trace", None, 50),)
    assert rules_from(Settings(budget_trace_usd=0.5, budget_agent_run_usd=2.0)) == (
        BudgetRule("trace", "trace", 0.5, None), BudgetRule("agent_run", "agent", 2.0))


def test_settlement_is_idempotent_and_adds_up() -> None:
    ledger = InMemoryLedger(100, 3600)
    scope = (USD, "u1")
    first = ledger.settle("charge-1", [scope], 0.25, 10)
    assert first == [Spend(USD, "u1", (0.0, 0), (0.25, 10))]
    assert ledger.settle("charge-1", [scope], 0.25, 10) == []  # the same charge again
    assert ledger.settle("charge-2", [scope], 0.5, 5) == [
        Spend(USD, "u1", (0.25, 10), (0.75, 15))]
    assert ledger.spent(scope) == (0.75, 15)
    assert ledger.spent((USD, "other")) == (0.0, 0)


def test_a_reservation_refuses_at_the_limit_and_settles_into_the_real_cost() -> None:
    ledger = InMemoryLedger(100, 3600)
    scope = (USD, "u1")
    assert ledger.reserve("r1", [scope], 0.6, 0) is None
    assert ledger.reserve("r2", [scope], 0.4, 0) is None  # 0.6 committed: under 1.0
    refused = ledger.reserve("r3", [scope], 0.1, 0)  # 1.0 committed: at the limit
    assert refused is not None and refused.spent == 1.0 and refused.unit == "usd"
    reservation = Reservation("r1", (scope,), (), 0.6, 0)
    assert ledger.settle("c1", [scope], 0.1, 0, reservation) == [
        Spend(USD, "u1", (0.0, 0), (0.1, 0))]
    assert ledger.reserve("r4", [scope], 0.1, 0) is None  # r1 given back: 0.5 committed
    ledger.release(Reservation("r2", (scope,), (), 0.4, 0))
    ledger.release(Reservation("r4", (scope,), (), 0.1, 0))
    assert ledger.spent(scope) == (0.1, 0)


def _budgets(tmp_path, *rules: dict) -> str:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": list(rules)}))
    return str(path)


def test_the_span_that_reaches_a_limit_says_so_exactly(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets(tmp_path, {"name": "all", "scope": "global",
                                                      "tokens": 2200}))
    harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=100)  # 1100: no crossing
    harness.llm("gpt-4o-mini", input_tokens=700, output_tokens=60)  # 1860 > 0.8 * 2200
    harness.llm("gpt-4o-mini", input_tokens=300, output_tokens=40)  # 2200: exactly the limit
    harness.llm("gpt-4o-mini", input_tokens=1, output_tokens=1)  # over already
    first, warned, reached, after = harness.spans()
    assert not [k for k in first.attributes if k.startswith("tripwire.budget")]
    assert first.events == ()
    assert warned.attributes[semconv.TRIPWIRE_BUDGET_WARNING] is True
    assert semconv.TRIPWIRE_BUDGET_EXCEEDED not in warned.attributes
    [event] = warned.events
    assert event.name == semconv.EVENT_BUDGET_WARNING
    assert dict(event.attributes) == {
        semconv.TRIPWIRE_BUDGET_NAME: "all", semconv.TRIPWIRE_BUDGET_SCOPE: "global",
        semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS: 2200, semconv.TRIPWIRE_BUDGET_SPENT_TOKENS: 1860}
    budget = {k: v for k, v in reached.attributes.items() if k.startswith("tripwire.budget")}
    assert budget == {semconv.TRIPWIRE_BUDGET_EXCEEDED: True,
                      semconv.TRIPWIRE_BUDGET_NAME: "all",
                      semconv.TRIPWIRE_BUDGET_SCOPE: "global",
                      semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS: 2200}
    [event] = reached.events
    assert event.name == semconv.EVENT_BUDGET_EXCEEDED
    assert event.attributes[semconv.TRIPWIRE_BUDGET_SPENT_TOKENS] == 2200
    assert after.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert after.events == ()  # exceeded, but not crossed by this span
    [(point, value)] = harness.points(semconv.METRIC_BUDGET_VIOLATIONS)
    assert value == 1
    assert point[semconv.TRIPWIRE_BUDGET_NAME] == "all"
    assert point[semconv.TRIPWIRE_BUDGET_SCOPE] == "global"
    assert point[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"


def test_a_usd_limit_names_its_usd_amounts(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets(tmp_path, {"name": "dollars", "scope": "user",
                                                      "usd": 0.0001}))
    harness.llm("gpt-4o-mini", input_tokens=100_000, output_tokens=0,
                **{semconv.USER_ID: "ann"})
    [span] = harness.spans()
    assert span.attributes[semconv.TRIPWIRE_BUDGET_LIMIT_USD] == 0.0001
    assert semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS not in span.attributes
    [event] = span.events
    spent = event.attributes[semconv.TRIPWIRE_BUDGET_SPENT_USD]
    assert spent == span.attributes[semconv.TRIPWIRE_COST_USD] > 0.0001
    harness.llm("gpt-4o-mini", input_tokens=100_000, output_tokens=0,
                **{semconv.USER_ID: "bob"})  # another user: their own account
    assert semconv.TRIPWIRE_BUDGET_EXCEEDED in harness.spans()[1].attributes
    assert len(harness.points(semconv.METRIC_BUDGET_VIOLATIONS)) == 1  # one series, 2 points
    [(_, value)] = harness.points(semconv.METRIC_BUDGET_VIOLATIONS)
    assert value == 2


def test_an_account_exactly_at_its_limit_is_never_evicted() -> None:
    ledger = InMemoryLedger(1, 3600)  # room for one ordinary account
    ledger.settle("c1", [(USD, "at-limit")], 1.0, 0)  # exactly the limit: over, pinned
    ledger.settle("c2", [(TOKENS, "at-limit")], 0.0, 1000)
    for i in range(3):  # ordinary accounts come and go
        ledger.settle(f"other-{i}", [(USD, f"u{i}")], 0.1, 0)
    assert ledger.spent((USD, "at-limit")) == (1.0, 0)
    assert ledger.spent((TOKENS, "at-limit")) == (0.0, 1000)
    assert ledger.pinned == 2
    ledger.settle("c3", [(USD, "under")], 0.999, 0)
    ledger.settle("c4", [(USD, "u9")], 0.1, 0)
    assert ledger.spent((USD, "under")) == (0.0, 0)  # under its limit: evicted like any


def test_each_account_is_counted_once_and_lookups_create_none() -> None:
    ledger = InMemoryLedger(100, 3600)
    assert ledger.spent((USD, "nobody")) == (0.0, 0)
    ledger.release(Reservation("r0", ((USD, "nobody"),), (), 0.5, 0))
    assert len(ledger) == 0  # reading or releasing an unknown scope made no account
    ledger.reserve("r1", [(USD, "u1")], 0.5, 0)  # held: pinned, and only pinned
    assert (len(ledger), ledger.pinned) == (1, 1)
    ledger.reserve("r2", [(USD, "u2")], 0.5, 0)
    ledger.release(Reservation("r2", ((USD, "u2"),), (), 0.5, 0))
    assert (len(ledger), ledger.pinned) == (2, 1)  # u2 given back: an ordinary account
    ledger.release(Reservation("r1", ((USD, "u1"),), (), 0.5, 0))
    assert (len(ledger), ledger.pinned) == (2, 0)


def test_a_refusal_names_its_scope() -> None:
    ledger = InMemoryLedger(100, 3600)
    ledger.settle("c1", [(TOKENS, "conv-7")], 0.0, 1000)
    refused = ledger.reserve("r1", [(USD, "u1"), (TOKENS, "conv-7")], 0.0, 1)
    assert refused == Crossing(TOKENS, "conv-7", "tokens", 1000, 1000, True, False)
    assert ledger.spent((USD, "u1")) == (0.0, 0)  # refused: nothing reserved anywhere


def test_settled_charge_ids_are_remembered_up_to_the_bound() -> None:
    from tripwire.processors import ledger as ledger_module

    bound = ledger_module._SETTLED_IDS
    ledger = InMemoryLedger(100, 3600)
    scope = (TOKENS, "c")
    for i in range(bound + 1):
        ledger.settle(f"charge-{i}", [scope], 0.0, 1)
    assert ledger.settle(f"charge-{bound}", [scope], 0.0, 1) == []  # the newest: kept
    assert ledger.settle("charge-1", [scope], 0.0, 1) == []  # the bound-th newest: kept
    assert ledger.settle("charge-0", [scope], 0.0, 1) != []  # the oldest: forgotten


def test_budget_blocks_reserve_refuse_and_settle() -> None:
    from tripwire.budgets import BudgetBlock
    from tripwire.processors.ledger import release_blocks, reserve_blocks, settle_blocks

    block = BudgetBlock("agent-run", usd=1.0, tokens=100)
    other = BudgetBlock("outer", usd=None, tokens=1000)
    assert reserve_blocks("r1", [block, other], 0.75, 60) is None
    assert block.account.committed() == (0.75, 60) and other.account.committed() == (0.75, 60)
    refused = reserve_blocks("r2", [other, block], 0.0, 39)
    assert refused is None  # 60 tokens committed: under both limits (99 now)
    refused = reserve_blocks("r3", [block], 0.25, 0)
    assert refused is None
    refused = reserve_blocks("r4", [other, block], 0.0, 0)  # block: 1.0 usd committed
    assert refused == Crossing(block.rule, "agent-run", "usd", 1.0, 1.0, True, False)
    release_blocks("r2", [block, other])
    release_blocks("r3", [block])
    reservation = Reservation("r1", (), (block, other), 0.75, 60)
    spends = settle_blocks([block], 0.5, 50, reservation)
    assert spends == [Spend(block.rule, "agent-run", (0.0, 0), (0.5, 50))]
    assert block.account.committed() == (0.5, 50)
    assert other.account.committed() == (0.0, 0)  # its part of the reservation given back


def _overlay(tmp_path, **rates: float) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"match": "free-model", **rates}]}))
    return str(path)


def test_a_free_call_is_charged_its_tokens(harness: Harness, tmp_path) -> None:
    # cost 0 (a free model) and one token: the token budget still counts it
    harness.settings(prices_file=_overlay(tmp_path, input_per_mtok=0, output_per_mtok=0),
                     budget_trace_tokens=1)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("free-model", input_tokens=0, output_tokens=1)
    attrs = harness.span("chat free-model").attributes
    assert attrs[semconv.TRIPWIRE_COST_USD] == 0
    assert attrs[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert attrs[semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS] == 1


def test_a_free_call_without_tokens_charges_nothing(harness: Harness, tmp_path) -> None:
    harness.settings(prices_file=_overlay(tmp_path, input_per_mtok=0, output_per_mtok=0),
                     budget_trace_tokens=1)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("free-model", input_tokens=0, output_tokens=0)
    attrs = harness.span("chat free-model").attributes
    assert not [k for k in attrs if k.startswith("tripwire.budget")]


@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(1000, 100), (0, 0)])
def test_an_unpriced_call_under_a_usd_budget_is_flagged(harness: Harness, input_tokens: int,
                                                        output_tokens: int) -> None:
    harness.settings(budget_trace_usd=1.0)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("my-finetune-7b", input_tokens=input_tokens, output_tokens=output_tokens)
        harness.llm("gpt-4o-mini", input_tokens=1, output_tokens=1)
    unpriced = harness.span("chat my-finetune-7b").attributes
    assert unpriced[semconv.TRIPWIRE_BUDGET_UNPRICED] is True
    assert semconv.TRIPWIRE_BUDGET_ESTIMATED not in unpriced
    priced = harness.span("chat gpt-4o-mini").attributes
    assert semconv.TRIPWIRE_BUDGET_UNPRICED not in priced


def test_an_unpriced_call_is_charged_its_tokens(harness: Harness) -> None:
    harness.settings(budget_trace_tokens=1100)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("my-finetune-7b", input_tokens=1000, output_tokens=100)
    attrs = harness.span("chat my-finetune-7b").attributes
    assert attrs[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    [event] = harness.span("chat my-finetune-7b").events
    assert event.attributes[semconv.TRIPWIRE_BUDGET_SPENT_TOKENS] == 1100


def test_conversation_and_user_are_learned_within_a_trace(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets(
        tmp_path, {"name": "conv", "scope": "conversation", "tokens": 2000},
        {"name": "user", "scope": "user", "tokens": 2000}))
    with harness.tracer.start_as_current_span("job"):
        harness.llm("gpt-4o-mini", input_tokens=900, output_tokens=100, **{
            semconv.GEN_AI_CONVERSATION_ID: "conv-1", semconv.ENDUSER_ID: "ann"})
        harness.llm("gpt-4o", input_tokens=900, output_tokens=100)  # neither named here
    later = harness.span("chat gpt-4o")
    assert later.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    crossed = sorted((e.attributes[semconv.TRIPWIRE_BUDGET_NAME],
                      e.attributes[semconv.TRIPWIRE_BUDGET_SPENT_TOKENS]) for e in later.events)
    assert crossed == [("conv", 2000), ("user", 2000)]


def test_user_id_wins_over_enduser_id(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets(
        tmp_path, {"name": "user", "scope": "user", "tokens": 1500}))
    harness.llm("gpt-4o-mini", input_tokens=900, output_tokens=100,
                **{semconv.USER_ID: "ann", semconv.ENDUSER_ID: "bob"})
    harness.llm("gpt-4o-mini", input_tokens=900, output_tokens=100,
                **{semconv.USER_ID: "", semconv.ENDUSER_ID: "ann"})  # empty: the next key
    second = harness.spans()[1]
    assert second.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True


def test_enforce_mode_charges_the_reserved_estimate_of_an_unpriced_call(
        harness: Harness) -> None:
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind

    from tripwire._core.precall import PreCallInfo
    from tripwire.runtime import get_runtime
    from tripwire.settings import BudgetMode

    harness.settings(budget_trace_usd=1.0, budget_mode=BudgetMode.ENFORCE)
    runtime = get_runtime()
    with harness.tracer.start_as_current_span("job"):
        span = harness.tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"})  # ends without usage: unpriced
        ctx = trace.set_span_in_context(span, context.get_current())
        reservation = runtime.before_call(PreCallInfo("chat", "openai", "gpt-4o", ctx))
        assert reservation is not None and reservation.usd > 0
        sc = span.get_span_context()
        runtime.hold(reservation, sc.trace_id, sc.span_id)
        span.end()
    attrs = harness.span("chat gpt-4o").attributes
    assert attrs[semconv.TRIPWIRE_BUDGET_ESTIMATED] is True
    assert semconv.TRIPWIRE_BUDGET_UNPRICED not in attrs
    [scope] = scopes(runtime.budget_rules(harness.settings(
        budget_trace_usd=1.0, budget_mode=BudgetMode.ENFORCE)),
        ScopeKeys(format(sc.trace_id, "032x"), None, None, None))
    assert runtime.ledger.spent(scope) == (reservation.usd, reservation.tokens)


def test_the_scopes_a_call_about_to_start_spends_from(harness: Harness) -> None:
    from opentelemetry import baggage, context, trace

    from tripwire.processors.ledger import scopes_before_call
    from tripwire.runtime import get_runtime

    rules = (BudgetRule("t", "trace", usd=1), BudgetRule("c", "conversation", usd=1),
             BudgetRule("u", "user", usd=1), BudgetRule("f", "feature", usd=1))
    settings = harness.settings(feature="fallback-feature")
    state = get_runtime().state

    def keys(ctx: context.Context) -> dict[str, str]:
        return {rule.name: key for rule, key in scopes_before_call(state, rules, settings, ctx)}

    # outside any span: no trace; the feature from the settings
    assert keys(context.Context()) == {"f": "fallback-feature"}
    with harness.tracer.start_as_current_span("job") as job:
        harness.llm("gpt-4o-mini", **{semconv.GEN_AI_CONVERSATION_ID: "conv-1",
                                      semconv.USER_ID: "ann"})
        trace_key = format(job.get_span_context().trace_id, "032x")
        # what the trace learned from its first call applies to the next one
        assert keys(context.get_current()) == {"t": trace_key, "c": "conv-1", "u": "ann",
                                               "f": "fallback-feature"}
        # baggage wins over what the trace learned
        ctx = baggage.set_baggage(semconv.BAGGAGE_FEATURE, "checkout")
        ctx = baggage.set_baggage(semconv.USER_ID, "bob", ctx)
        ctx = baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, "conv-2", ctx)
        assert keys(ctx) == {"t": trace_key, "c": "conv-2", "u": "bob", "f": "checkout"}
        assert trace.get_current_span(ctx) is job


def test_budget_events_are_stamped_with_the_end_of_their_span(harness: Harness,
                                                              tmp_path) -> None:
    harness.settings(budgets_file=_budgets(tmp_path, {"name": "all", "scope": "global",
                                                      "tokens": 2000}))
    harness.llm("gpt-4o-mini", input_tokens=1700, output_tokens=0)  # the warning
    harness.llm("gpt-4o-mini", input_tokens=300, output_tokens=0)  # the limit
    warned, reached = harness.spans()
    assert [(e.name, e.timestamp) for e in warned.events] == [
        (semconv.EVENT_BUDGET_WARNING, warned.end_time)]
    assert [(e.name, e.timestamp) for e in reached.events] == [
        (semconv.EVENT_BUDGET_EXCEEDED, reached.end_time)]


def _trace_scope(harness: Harness, trace_id: int, **settings: object) -> tuple[float, int]:
    from tripwire.runtime import get_runtime

    runtime = get_runtime()
    [scope] = scopes(runtime.budget_rules(harness.settings(**settings)),
                     ScopeKeys(format(trace_id, "032x"), None, None, None))
    return runtime.ledger.spent(scope)


def test_a_zero_estimate_does_not_stand_in_for_an_unknown_cost(harness: Harness) -> None:
    from opentelemetry.trace import SpanKind

    from tripwire.runtime import get_runtime

    harness.settings(budget_trace_usd=1.0)
    runtime = get_runtime()
    with harness.tracer.start_as_current_span("job") as job:
        span = harness.tracer.start_span("chat my-finetune-7b", kind=SpanKind.CLIENT, attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "my-finetune-7b"})  # no price, no usage
        sc = span.get_span_context()
        # what the gate reserves for a model it cannot price: no dollars, some tokens
        runtime.hold(Reservation("r-zero", (), (), 0.0, 700), sc.trace_id, sc.span_id)
        span.end()
        trace_id = job.get_span_context().trace_id
    attrs = harness.span("chat my-finetune-7b").attributes
    assert attrs[semconv.TRIPWIRE_BUDGET_UNPRICED] is True
    assert semconv.TRIPWIRE_BUDGET_ESTIMATED not in attrs
    assert _trace_scope(harness, trace_id, budget_trace_usd=1.0) == (0.0, 0)


@pytest.mark.parametrize("cost", [float("inf"), float("nan"), -5.0])
def test_a_cost_that_cannot_be_right_is_never_charged(harness: Harness, cost: object) -> None:
    # a cost already on the span (its instrumentor's own) is kept by the cost enricher
    harness.settings(budget_trace_usd=1.0)
    with harness.tracer.start_as_current_span("job") as job:
        harness.llm("gpt-4o-mini", input_tokens=10, output_tokens=5,
                    **{semconv.TRIPWIRE_COST_USD: cost})
        harness.llm("gpt-4o-mini", input_tokens=1, output_tokens=1,
                    **{semconv.TRIPWIRE_COST_USD: 0.25})
    first, second = harness.spans()[:2]
    assert not [k for k in first.attributes if k.startswith("tripwire.budget")]
    assert not [k for k in second.attributes if k.startswith("tripwire.budget")]
    assert _trace_scope(harness, job.get_span_context().trace_id,
                        budget_trace_usd=1.0) == (0.25, 17)


def test_a_known_cost_without_tokens_is_charged(harness: Harness) -> None:
    harness.settings(budget_trace_usd=1.0)
    with harness.tracer.start_as_current_span("job") as job:
        harness.llm("gpt-4o-mini", input_tokens=0, output_tokens=0,
                    **{semconv.TRIPWIRE_COST_USD: 0.5})
        harness.llm("gpt-4o-mini", input_tokens=0, output_tokens=0,
                    **{semconv.TRIPWIRE_COST_USD: 0.5})
    first, second = harness.spans()[:2]
    assert semconv.TRIPWIRE_BUDGET_EXCEEDED not in first.attributes
    assert second.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    [event] = second.events
    assert event.attributes[semconv.TRIPWIRE_BUDGET_SPENT_USD] == 1.0
    assert _trace_scope(harness, job.get_span_context().trace_id,
                        budget_trace_usd=1.0) == (1.0, 0)


def test_a_call_that_charges_nothing_says_nothing_of_a_spent_budget(harness: Harness,
                                                                    tmp_path) -> None:
    harness.settings(prices_file=_overlay(tmp_path, input_per_mtok=0, output_per_mtok=0),
                     budget_trace_tokens=10)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("free-model", input_tokens=10, output_tokens=0)  # the limit
        harness.llm("free-model", input_tokens=0, output_tokens=0)  # nothing: not charged
        harness.llm("free-model", input_tokens=0, output_tokens=1)  # over already
    reached, free, over = harness.spans()[:3]
    assert reached.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert not [k for k in free.attributes if k.startswith("tripwire.budget")]
    assert free.events == ()
    assert over.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert over.events == ()


def test_the_first_limit_a_trace_exceeds_is_the_one_its_root_names(harness: Harness,
                                                                   tmp_path) -> None:
    harness.settings(budgets_file=_budgets(
        tmp_path, {"name": "small", "scope": "global", "tokens": 1000},
        {"name": "large", "scope": "global", "tokens": 2000}))
    with harness.tracer.start_as_current_span("job"):
        harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=100)  # 1100: small
        harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=100)  # 2200: large
    first, second = [s for s in harness.spans() if s.name == "chat gpt-4o-mini"]
    assert [(e.name, e.attributes[semconv.TRIPWIRE_BUDGET_NAME]) for e in first.events] == [
        (semconv.EVENT_BUDGET_EXCEEDED, "small")]
    # small is over already (exceeded, not crossed) and comes first: large still says so
    assert [(e.name, e.attributes[semconv.TRIPWIRE_BUDGET_NAME],
             e.attributes[semconv.TRIPWIRE_BUDGET_SPENT_TOKENS]) for e in second.events] == [
        (semconv.EVENT_BUDGET_EXCEEDED, "large", 2200)]
    assert second.attributes[semconv.TRIPWIRE_BUDGET_NAME] == "small"  # the first it hits
    root = harness.span("job").attributes
    assert root[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert root[semconv.TRIPWIRE_BUDGET_NAME] == "small"
    assert root[semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS] == 1000
    points = sorted((p[semconv.TRIPWIRE_BUDGET_NAME], v)
                    for p, v in harness.points(semconv.METRIC_BUDGET_VIOLATIONS))
    assert points == [("large", 1), ("small", 1)]


def test_ids_that_are_not_text_are_not_budget_keys(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets(
        tmp_path, {"name": "user", "scope": "user", "tokens": 1000},
        {"name": "conv", "scope": "conversation", "tokens": 1000}))
    for _ in range(2):  # two requests of one user and conversation, if they were ids
        harness.llm("gpt-4o-mini", input_tokens=500, output_tokens=100,
                    **{semconv.USER_ID: 42, semconv.GEN_AI_CONVERSATION_ID: 7})
    for span in harness.spans():
        assert not [k for k in span.attributes if k.startswith("tripwire.budget")]


def test_a_known_cost_wins_over_an_unpriced_flag(harness: Harness) -> None:
    harness.settings(budget_trace_usd=1.0)
    with harness.tracer.start_as_current_span("job") as job:
        harness.llm("my-finetune-7b", input_tokens=0, output_tokens=0, **{
            semconv.TRIPWIRE_COST_USD: 0.5, semconv.TRIPWIRE_COST_UNPRICED: True})
    attrs = harness.span("chat my-finetune-7b").attributes
    assert semconv.TRIPWIRE_BUDGET_UNPRICED not in attrs
    assert _trace_scope(harness, job.get_span_context().trace_id,
                        budget_trace_usd=1.0) == (0.5, 0)
