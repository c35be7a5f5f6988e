"""The budget ledger, exactly: the agent-run accounts of a call (the span's own run and the
runs around it, before and after the call), the scopes a call about to start spends from,
pinned accounts released once their rolling window drained (a controlled clock, no sleep),
new bounds, and the log line of a bad budgets file (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.trace import SpanKind

from tripwire import budgets as budgets_module
from tripwire import semconv
from tripwire.budgets import BudgetRule, load_budgets_file
from tripwire.errors import ConfigError
from tripwire.processors import state as state_module
from tripwire.processors.agents import AgentTally
from tripwire.processors.ledger import (
    InMemoryLedger,
    Reservation,
    ScopeKeys,
    Spend,
    agent_run_keys,
    rules_from,
    scopes,
    scopes_before_call,
)
from tripwire.processors.state import ProcessState
from tripwire.runtime import get_runtime
from tripwire.settings import Settings

from .conftest import Harness

TRACE = 7
TRACE_HEX = "0" * 31 + "7"


def _key(name: str, span_id: int) -> str:
    return f"{name}/{TRACE_HEX}/{span_id:016x}"


class _Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """The time the rolling windows and the table bounds read, moved by the test."""
    fake = _Clock(1_000_000.0)
    monkeypatch.setattr(budgets_module, "_clock", fake)
    monkeypatch.setattr(state_module, "_clock", fake)
    return fake


# --- agent-run keys ----------------------------------------------------------------------

def test_the_runs_of_a_call_innermost_first() -> None:
    state = ProcessState.bounded(100, 0)
    assert agent_run_keys(state, TRACE, 3) == []  # no run open in the process
    outer = AgentTally(None, name="support")
    inner = AgentTally((TRACE, 1), name=None)  # a run without a name
    state.agent_runs.set((TRACE, 1), outer)
    state.agent_runs.set((TRACE, 2), inner)
    state.agent_links.set((TRACE, 3), (TRACE, 2))  # a call inside the inner run
    both = [(inner, f"/{TRACE_HEX}/0000000000000002"),
            (outer, f"support/{TRACE_HEX}/0000000000000001")]
    assert agent_run_keys(state, TRACE, 3) == both
    assert agent_run_keys(state, TRACE, 2) == both  # the run's own span
    assert agent_run_keys(state, TRACE, 1) == [(outer, _key("support", 1))]
    assert agent_run_keys(state, TRACE, 9) == []  # a span in no run
    assert agent_run_keys(state, TRACE + 1, 3) == []  # the same span id in another trace
    state.agent_links.set((TRACE, 4), (TRACE, 99))  # linked to a run that has ended
    assert agent_run_keys(state, TRACE, 4) == []


def test_a_run_whose_enclosing_run_ended_is_the_last_one() -> None:
    state = ProcessState.bounded(100, 0)
    state.agent_runs.set((TRACE, 2), AgentTally((TRACE, 1), name="inner"))  # (7, 1) ended
    assert [key for _, key in agent_run_keys(state, TRACE, 2)] == [_key("inner", 2)]


@pytest.mark.parametrize(("depth", "charged"), [(15, 15), (16, 16), (17, 16), (40, 16)])
def test_at_most_sixteen_runs_are_charged(depth: int, charged: int) -> None:
    state = ProcessState.bounded(100, 0)
    for span_id in range(1, depth + 1):
        state.agent_runs.set((TRACE, span_id),
                             AgentTally((TRACE, span_id - 1) if span_id > 1 else None,
                                        name=f"run{span_id}"))
    found = [key for _, key in agent_run_keys(state, TRACE, depth)]
    assert found == [_key(f"run{i}", i) for i in range(depth, depth - charged, -1)]


def test_a_run_enclosing_itself_is_charged_a_bounded_number_of_times() -> None:
    state = ProcessState.bounded(100, 0)
    state.agent_runs.set((TRACE, 1), AgentTally((TRACE, 1), name="loop"))
    assert [key for _, key in agent_run_keys(state, TRACE, 1)] == [_key("loop", 1)] * 16


# --- scopes --------------------------------------------------------------------------------

def test_the_rules_after_an_agent_rule_apply_too() -> None:
    rules = [BudgetRule("a", "agent", usd=1), BudgetRule("u", "user", usd=1),
             BudgetRule("a2", "agent", tokens=5), BudgetRule("g", "global", usd=1)]
    keys = ScopeKeys(None, None, "ann", None, ("run-1", "run-2"))
    assert [(rule.name, key) for rule, key in scopes(rules, keys)] == [
        ("a", "run-1"), ("a", "run-2"), ("u", "ann"), ("a2", "run-1"), ("a2", "run-2"),
        ("g", "")]
    assert [(rule.name, key) for rule, key in scopes(rules, ScopeKeys(None, None, None, None))
            ] == [("g", "")]  # no run, no user: only the process


def _agent(harness: Harness, name: str):  # the span, started as current
    return harness.tracer.start_as_current_span(
        f"invoke_agent {name}", attributes={semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
                                            semconv.GEN_AI_AGENT_NAME: name})


def test_the_agent_runs_a_call_about_to_start_spends_from(harness: Harness) -> None:
    settings = harness.settings()
    state = get_runtime().state
    run_rule = BudgetRule("run", "agent", usd=1)
    user_rule = BudgetRule("u", "user", usd=1)

    def keys(rules: tuple[BudgetRule, ...], ctx: context.Context) -> list[tuple[str, str]]:
        return [(rule.name, key) for rule, key in scopes_before_call(state, rules, settings,
                                                                     ctx)]

    with _agent(harness, "planner") as planner:
        outer = planner.get_span_context()
        with _agent(harness, "writer") as writer:
            inner = writer.get_span_context()
            with harness.tracer.start_as_current_span("step"):
                ctx = context.get_current()
                writer_key = f"writer/{inner.trace_id:032x}/{inner.span_id:016x}"
                planner_key = f"planner/{outer.trace_id:032x}/{outer.span_id:016x}"
                assert keys((run_rule,), ctx) == [("run", writer_key), ("run", planner_key)]
                # an agent rule among others: its runs are still found
                assert keys((user_rule, run_rule), baggage.set_baggage(
                    semconv.USER_ID, "ann", ctx)) == [
                    ("u", "ann"), ("run", writer_key), ("run", planner_key)]
                assert keys((user_rule,), ctx) == []  # no agent rule, no user
        # outside any span: no trace, so no run either
        assert keys((run_rule,), context.Context()) == []


def test_a_call_outside_any_run_spends_from_no_run(harness: Harness) -> None:
    settings = harness.settings()
    state = get_runtime().state
    rules = (BudgetRule("run", "agent", usd=1), BudgetRule("t", "trace", usd=1))
    # a run open in the process, but not around the call
    elsewhere = harness.tracer.start_span("invoke_agent elsewhere", attributes={
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent"})
    try:
        with harness.tracer.start_as_current_span("request") as request:
            found = scopes_before_call(state, rules, settings, context.get_current())
            assert [(rule.name, key) for rule, key in found] == [
                ("t", format(request.get_span_context().trace_id, "032x"))]
    finally:
        elsewhere.end()


def _only_the_span(span: trace.Span) -> context.Context:
    """The span's context without the baggage it started with: what the trace learned."""
    return trace.set_span_in_context(span, context.Context())


def test_a_call_about_to_start_in_a_trace_uses_what_the_trace_learned(
        harness: Harness) -> None:
    settings = harness.settings(feature="from-settings")
    state = get_runtime().state
    rules = (BudgetRule("c", "conversation", usd=1), BudgetRule("u", "user", usd=1),
             BudgetRule("f", "feature", usd=1))

    def keys(ctx: context.Context) -> dict[str, str]:
        return {rule.name: key for rule, key in scopes_before_call(state, rules, settings, ctx)}

    # the root's baggage, remembered by the trace
    started = baggage.set_baggage(semconv.BAGGAGE_FEATURE, "from-baggage")
    started = baggage.set_baggage(semconv.ENDUSER_ID, "ann", started)
    started = baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, "conv-9", started)
    token = context.attach(started)
    try:
        with harness.tracer.start_as_current_span(
                "GET /pay", kind=SpanKind.SERVER, attributes={semconv.HTTP_ROUTE: "/pay"}) as root:
            assert keys(_only_the_span(root)) == {"c": "conv-9", "u": "ann", "f": "from-baggage"}
    finally:
        context.detach(token)
    # baggage that is not text is not a key
    not_text = baggage.set_baggage(semconv.USER_ID, 42)
    not_text = baggage.set_baggage(semconv.ENDUSER_ID, "bob", not_text)
    not_text = baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, 9, not_text)
    with harness.tracer.start_as_current_span("job") as root:
        assert keys(trace.set_span_in_context(root, not_text)) == {
            "u": "bob", "f": "from-settings"}
    # no feature in baggage: the root's route, then the setting
    with harness.tracer.start_as_current_span(
            "GET /cart", kind=SpanKind.SERVER, attributes={semconv.HTTP_ROUTE: "/cart"}) as root:
        assert keys(_only_the_span(root)) == {"f": "/cart"}
    for route in ("", 5):  # empty or not text: not a feature
        with harness.tracer.start_as_current_span("GET", kind=SpanKind.SERVER,
                                                  attributes={semconv.HTTP_ROUTE: route}) as root:
            assert keys(_only_the_span(root)) == {"f": "from-settings"}
    # an unknown trace (its record gone): the setting
    with harness.tracer.start_as_current_span("GET /x", attributes={
            semconv.HTTP_ROUTE: "/x"}) as root:
        state.traces.pop(root.get_span_context().trace_id)
        assert keys(_only_the_span(root)) == {"f": "from-settings"}


# --- pinned accounts and rolling windows ----------------------------------------------------

MINUTE = BudgetRule("per-minute", "user", tokens=100, window_seconds=60.0)
CUMULATIVE = BudgetRule("total", "user", tokens=100)


def test_a_pinned_account_is_unpinned_once_its_window_drained(clock: _Clock) -> None:
    ledger = InMemoryLedger(100, 0)
    ledger.settle("c1", [(MINUTE, "ann")], 0.0, 10)  # spending inside a live window: pinned
    ledger.settle("c2", [(MINUTE, "bob")], 0.0, 20)
    assert (len(ledger), ledger.pinned) == (2, 2)
    clock.now += 30
    ledger.settle("c3", [(CUMULATIVE, "x")], 0.0, 1)  # the oldest re-examined: still live
    assert (len(ledger), ledger.pinned) == (3, 2)
    clock.now += 30  # both windows drained
    assert ledger.spent((MINUTE, "ann")) == (0.0, 0)
    ledger.settle("c4", [(CUMULATIVE, "x")], 0.0, 1)  # the oldest (ann) now: unpinned
    assert (len(ledger), ledger.pinned) == (3, 1)
    ledger.settle("c5", [(CUMULATIVE, "x")], 0.0, 1)  # then bob
    assert (len(ledger), ledger.pinned) == (3, 0)
    # an ordinary account again, still there: spending in its window pins it again
    assert ledger.settle("c6", [(MINUTE, "ann")], 0.0, 1) == [
        Spend(MINUTE, "ann", (0.0, 0), (0.0, 1))]
    assert (len(ledger), ledger.pinned) == (3, 1)
    ledger.resize(1, 0)  # the others are evicted to make room like any
    assert (len(ledger), ledger.pinned) == (2, 1)


def test_a_drained_account_used_again_is_pinned_again(clock: _Clock) -> None:
    ledger = InMemoryLedger(100, 0)
    ledger.settle("c1", [(MINUTE, "ann")], 0.0, 10)
    clock.now += 60  # drained, but still pinned until re-examined
    assert ledger.pinned == 1
    ledger.reserve("r1", [(MINUTE, "ann")], 0.0, 5)  # held: pinned by its reservation
    assert ledger.pinned == 1
    ledger.settle("c2", [(MINUTE, "ann")], 0.0, 5,
                  Reservation("r1", ((MINUTE, "ann"),), (), 0.0, 5))
    assert (len(ledger), ledger.pinned) == (1, 1)  # spent in the window again
    assert ledger.spent((MINUTE, "ann")) == (0.0, 5)


def test_an_account_over_its_limit_stays_pinned_when_re_examined(clock: _Clock) -> None:
    ledger = InMemoryLedger(100, 0)
    ledger.settle("c1", [(MINUTE, "bob")], 0.0, 10)  # pinned while its window is live
    ledger.settle("c2", [(CUMULATIVE, "ann")], 0.0, 100)  # over: pinned for good
    # (re-examined by c2, bob went last: ann is the oldest pinned account)
    clock.now += 60
    pinned = []
    for i in range(4):  # each operation re-examines the oldest pinned account
        ledger.settle(f"x{i}", [(CUMULATIVE, "x")], 0.0, 1)
        pinned.append(ledger.pinned)
    assert pinned == [2, 1, 1, 1]  # ann kept (moved last), bob drained, ann kept, ann kept
    assert len(ledger) == 3
    assert ledger.spent((CUMULATIVE, "ann")) == (0.0, 100)


def test_an_account_over_a_windowed_limit_is_pinned_until_the_window_drained(
        clock: _Clock) -> None:
    ledger = InMemoryLedger(100, 0)
    capped = BudgetRule("cap", "user", usd=1.0, window_seconds=60.0)
    ledger.settle("c1", [(capped, "bob")], 1.0, 0)
    assert ledger.pinned == 1
    assert ledger.reserve("r1", [(capped, "bob")], 0.1, 0) is not None  # over: refused
    clock.now += 60
    assert ledger.reserve("r2", [(capped, "bob")], 0.1, 0) is None  # drained: allowed
    ledger.release(Reservation("r2", ((capped, "bob"),), (), 0.1, 0))
    assert (len(ledger), ledger.pinned) == (1, 0)


@pytest.mark.parametrize("scope", ["trace", "agent"])
def test_an_over_limit_run_account_is_never_pinned(scope: str) -> None:
    ledger = InMemoryLedger(1, 0)
    rule = BudgetRule("run", scope, tokens=10)
    assert ledger.settle("c1", [(rule, "run-1")], 0.0, 10) == [
        Spend(rule, "run-1", (0.0, 0), (0.0, 10))]
    assert ledger.pinned == 0
    ledger.settle("c2", [(rule, "run-2")], 0.0, 1)  # room for one: run-1 goes
    assert ledger.spent((rule, "run-1")) == (0.0, 0)
    assert ledger.spent((rule, "run-2")) == (0.0, 1)


def test_an_account_whose_reservation_is_released_is_unpinned_at_once() -> None:
    ledger = InMemoryLedger(100, 0)
    ledger.reserve("r1", [(CUMULATIVE, "ann")], 0.0, 1)  # pinned by its reservation
    ledger.settle("c1", [(CUMULATIVE, "bob")], 0.0, 100)  # over: pinned; ann moved last
    assert ledger.pinned == 2
    ledger.release(Reservation("r1", ((CUMULATIVE, "ann"),), (), 0.0, 1))
    assert (len(ledger), ledger.pinned) == (2, 1)  # ann, not the oldest, unpinned itself


def test_a_pinned_run_account_is_unpinned_once_its_reservation_is_released() -> None:
    ledger = InMemoryLedger(100, 0)
    rule = BudgetRule("run", "trace", tokens=10)
    ledger.settle("c1", [(rule, "t1")], 0.0, 10)  # over, but a run scope: not pinned
    ledger.reserve("r1", [(CUMULATIVE, "ann")], 0.0, 1)  # pinned by its reservation
    ledger.settle("c2", [(CUMULATIVE, "bob")], 0.0, 1)
    assert ledger.pinned == 1
    ledger.release(Reservation("r1", ((CUMULATIVE, "ann"),), (), 0.0, 1))
    assert (len(ledger), ledger.pinned) == (3, 0)
    ledger.release(Reservation("r1", ((CUMULATIVE, "ann"),), (), 0.0, 1))  # twice: no-op
    assert (len(ledger), ledger.pinned) == (3, 0)


# --- bounds ----------------------------------------------------------------------------------

def test_resize_bounds_the_ordinary_accounts_not_the_pinned(clock: _Clock) -> None:
    ledger = InMemoryLedger(100, 0)
    for i in range(5):
        ledger.settle(f"c{i}", [(CUMULATIVE, f"u{i}")], 0.0, 1)
        clock.now += 10
    ledger.settle("over", [(CUMULATIVE, "over")], 0.0, 100)  # pinned
    assert (len(ledger), ledger.pinned) == (6, 1)
    ledger.resize(100, 25)  # u0, u1, u2 were last used more than 25 s ago
    assert len(ledger) == 3
    assert [ledger.spent((CUMULATIVE, f"u{i}")) for i in range(5)] == [
        (0.0, 0), (0.0, 0), (0.0, 0), (0.0, 1), (0.0, 1)]
    ledger.resize(1, 0)  # room for one ordinary account: the most recently used
    assert (len(ledger), ledger.pinned) == (2, 1)
    assert ledger.spent((CUMULATIVE, "u4")) == (0.0, 1)
    assert ledger.spent((CUMULATIVE, "over")) == (0.0, 100)


# --- rules ---------------------------------------------------------------------------------

def test_a_bad_budgets_file_is_logged_and_the_other_rules_stay(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": [{"name": "x", "scope": "galaxy", "usd": 1}]}))
    with pytest.raises(ConfigError) as raised:
        load_budgets_file(str(path))
    with caplog.at_level(logging.ERROR, logger="tripwire"):
        rules = rules_from(Settings(budget_trace_usd=0.5, budgets_file=str(path)))
    assert rules == (BudgetRule("trace", "trace", 0.5, None),)
    [record] = [r for r in caplog.records if r.name == "tripwire"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"tripwire configuration: {raised.value}; file budgets stay off")


def test_the_rules_of_a_budgets_file_follow_the_settings_rules(tmp_path) -> None:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": [{"name": "u", "scope": "user", "tokens": 5}]}))
    assert rules_from(Settings(budget_trace_usd=0.5, budget_agent_run_usd=2.0,
                               budgets_file=str(path))) == (
        BudgetRule("trace", "trace", 0.5, None), BudgetRule("agent_run", "agent", 2.0),
        BudgetRule("u", "user", None, 5))
    assert rules_from(Settings(budget_trace_usd=0.0)) == (
        BudgetRule("trace", "trace", 0.0, None),)
