"""Budgets: every scope, warnings, flag mode, enforce mode through the runtime's budget gate."""

from __future__ import annotations

import importlib
import json
import logging

import pytest
from opentelemetry import baggage, context
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire._core.precall import PreCallInfo
from tripwire.budgets import budget, load_budgets_file
from tripwire.errors import BudgetExceededError, ConfigError
from tripwire.runtime import get_runtime
from tripwire.settings import BudgetMode

from .conftest import Harness

# The module (the function is exported as ``tripwire.budget``).
budget_module = importlib.import_module("tripwire.budgets")


def _precall(ctx: context.Context | None = None) -> None:
    """The gate's verdict for a call about to start (what it reserves is given back: these
    tests ask whether a scope is spent, the reservation tests are in test_reservations.py)."""
    runtime = get_runtime()
    reservation = runtime.before_call(PreCallInfo(
        "chat", "openai", "gpt-4o", ctx if ctx is not None else context.get_current()))
    if reservation is not None:
        runtime.release(reservation)


def _budgets_file(tmp_path, *rules: dict) -> str:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": list(rules)}))
    return str(path)


def _events(span, name: str) -> list:
    return [e for e in span.events if e.name == name]


def test_trace_budget_usd_warning_then_crossing(harness: Harness) -> None:
    # gpt-4o: 1000 in + 100 out = $0.0035 per call
    harness.settings(budget_trace_usd=0.01, budget_warn_ratio=0.5)
    with harness.tracer.start_as_current_span("POST /agent", kind=SpanKind.SERVER):
        for i in range(4):
            harness.llm("gpt-4o", **{"call.index": i})
    spans = sorted((s for s in harness.spans() if s.name == "chat gpt-4o"),
                   key=lambda s: s.attributes["call.index"])
    assert [s.attributes.get(semconv.TRIPWIRE_BUDGET_WARNING) for s in spans] == [
        None, True, None, None]
    assert len(_events(spans[1], semconv.EVENT_BUDGET_WARNING)) == 1
    assert [s.attributes.get(semconv.TRIPWIRE_BUDGET_EXCEEDED) for s in spans] == [
        None, None, True, True]
    [crossing] = _events(spans[2], semconv.EVENT_BUDGET_EXCEEDED)
    assert crossing.attributes[semconv.TRIPWIRE_BUDGET_NAME] == "trace"
    assert crossing.attributes[semconv.TRIPWIRE_BUDGET_SPENT_USD] == pytest.approx(0.0105)
    assert _events(spans[3], semconv.EVENT_BUDGET_EXCEEDED) == []  # only the crossing span
    assert spans[2].attributes[semconv.TRIPWIRE_BUDGET_LIMIT_USD] == 0.01
    root = harness.span("POST /agent").attributes
    assert root[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert root[semconv.TRIPWIRE_BUDGET_NAME] == "trace"
    [(attrs, value)] = harness.points(semconv.METRIC_BUDGET_VIOLATIONS)
    assert value == 1
    assert attrs[semconv.TRIPWIRE_BUDGET_NAME] == "trace"
    assert attrs[semconv.TRIPWIRE_BUDGET_SCOPE] == "trace"


def test_trace_budget_tokens_and_enforce_mode(harness: Harness) -> None:
    harness.settings(budget_trace_tokens=2000, budget_mode=BudgetMode.ENFORCE)
    with harness.tracer.start_as_current_span("job"):
        _precall()  # nothing spent yet
        harness.llm("gpt-4o-mini", input_tokens=1500, output_tokens=100)
        _precall()  # 1600 of 2000
        harness.llm("gpt-4o-mini", input_tokens=500, output_tokens=100)
        with pytest.raises(BudgetExceededError) as info:
            _precall()
    assert info.value.unit == "tokens"
    assert info.value.limit == 2000 and info.value.spent == 2200
    # another trace is not affected
    with harness.tracer.start_as_current_span("other job"):
        _precall()


def test_flag_mode_never_raises(harness: Harness) -> None:
    harness.settings(budget_trace_tokens=10)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("gpt-4o-mini")
        _precall()
    assert harness.span("job").attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True


def test_conversation_and_user_budgets(harness: Harness, tmp_path) -> None:
    harness.settings(budget_mode=BudgetMode.ENFORCE, budgets_file=_budgets_file(
        tmp_path,
        {"name": "conv", "scope": "conversation", "usd": 0.005},
        {"name": "per-user", "scope": "user", "tokens": 3000},
    ))
    # two requests (traces) in the same conversation: the budget spans them
    harness.llm("gpt-4o", **{semconv.GEN_AI_CONVERSATION_ID: "conv-1", "user.id": "u1"})
    harness.llm("gpt-4o", **{semconv.GEN_AI_CONVERSATION_ID: "conv-1", "user.id": "u2"})
    second = next(s for s in harness.spans() if s.attributes.get("user.id") == "u2")
    assert second.attributes[semconv.TRIPWIRE_BUDGET_NAME] == "conv"
    assert second.attributes[semconv.TRIPWIRE_BUDGET_SCOPE] == "conversation"
    ctx = baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, "conv-1")
    with pytest.raises(BudgetExceededError, match="conv"):
        _precall(ctx)
    _precall(baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, "conv-2"))
    # user budget via enduser.id attribute, then checked through baggage
    harness.llm("gpt-4o-mini", input_tokens=2500, output_tokens=600,
                **{"enduser.id": "u3"})
    with pytest.raises(BudgetExceededError, match="per-user"):
        _precall(baggage.set_baggage("user.id", "u3"))
    _precall(baggage.set_baggage("user.id", "u1"))


def test_user_from_baggage_and_conversation_learned_within_trace(harness: Harness,
                                                                 tmp_path) -> None:
    harness.settings(budget_mode=BudgetMode.ENFORCE, budgets_file=_budgets_file(
        tmp_path, {"name": "per-user", "scope": "user", "tokens": 1000}))
    token = context.attach(baggage.set_baggage("user.id", "alice"))
    try:
        with harness.tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
            harness.llm("gpt-4o-mini")
            with pytest.raises(BudgetExceededError):
                _precall()
    finally:
        context.detach(token)
    assert harness.span("chat gpt-4o-mini").attributes[semconv.TRIPWIRE_BUDGET_NAME] == "per-user"


def test_rolling_window_budget(harness: Harness, tmp_path, monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(budget_module, "_clock", lambda: now[0])
    harness.settings(budget_mode=BudgetMode.ENFORCE, budgets_file=_budgets_file(
        tmp_path, {"name": "per-minute", "scope": "global", "window": "minute", "tokens": 2000}))
    harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=0)
    now[0] += 30
    harness.llm("gpt-4o-mini", input_tokens=1000, output_tokens=0)
    with pytest.raises(BudgetExceededError, match="per-minute"):
        _precall()
    now[0] += 31  # the first call left the window
    _precall()
    now[0] += 30  # both left
    harness.llm("gpt-4o-mini", input_tokens=1500, output_tokens=0)
    _precall()
    spans = harness.spans()
    assert [s.attributes.get(semconv.TRIPWIRE_BUDGET_EXCEEDED) for s in spans] == [
        None, True, None]


def test_feature_scope_budget(harness: Harness, tmp_path) -> None:
    harness.settings(budget_mode=BudgetMode.ENFORCE, budgets_file=_budgets_file(
        tmp_path, {"name": "summarize-daily", "scope": "feature", "window": "day", "usd": 0.001}))
    with harness.tracer.start_as_current_span("POST", kind=SpanKind.SERVER) as root:
        root.set_attribute(semconv.HTTP_ROUTE, "/summarize")
        harness.llm("gpt-4o")
        with pytest.raises(BudgetExceededError, match="summarize-daily"):
            _precall()
    _precall(baggage.set_baggage(semconv.BAGGAGE_FEATURE, "other"))


def test_budget_block_context_manager(harness: Harness) -> None:
    harness.settings(budget_mode=BudgetMode.ENFORCE)
    with budget(usd=0.006, name="agent-run") as run:
        harness.llm("gpt-4o")  # $0.0035
        _precall()
        harness.llm("gpt-4o")  # $0.0070 > 0.006
        with pytest.raises(BudgetExceededError) as info:
            _precall()
    assert info.value.budget == "agent-run" and info.value.scope == "block"
    assert run.spent_usd == pytest.approx(0.007)
    assert run.exceeded
    _precall()  # outside the block
    crossing = [s for s in harness.spans()
                if s.attributes.get(semconv.TRIPWIRE_BUDGET_EXCEEDED)]
    assert len(crossing) == 1
    assert crossing[0].attributes[semconv.TRIPWIRE_BUDGET_NAME] == "agent-run"


def test_nested_blocks_and_token_block(harness: Harness) -> None:
    with budget(tokens=5000, name="outer") as outer:
        with budget(tokens=1000, name="step-1") as inner:
            harness.llm("gpt-4o-mini", input_tokens=900, output_tokens=200)
        harness.llm("gpt-4o-mini", input_tokens=900, output_tokens=200)
    assert inner.spent_tokens == 1100 and inner.exceeded
    assert outer.spent_tokens == 2200 and not outer.exceeded


def test_budget_argument_and_file_validation(tmp_path) -> None:
    with pytest.raises(ConfigError, match="usd"), budget(usd=-1):
        pass
    with pytest.raises(ConfigError), budget():
        pass
    bad = tmp_path / "b.yaml"
    bad.write_text("budgets:\n  - name: x\n    scope: planet\n    usd: 1\n")
    with pytest.raises(ConfigError, match="scope: one of"):
        load_budgets_file(str(bad))
    bad.write_text("budgets:\n  - name: x\n    window: fortnight\n    usd: 1\n")
    with pytest.raises(ConfigError, match="window"):
        load_budgets_file(str(bad))
    good = tmp_path / "g.yaml"
    good.write_text("budgets:\n  - name: x\n    scope: user\n    window: hour\n    tokens: 10\n")
    [rule] = load_budgets_file(str(good))
    assert rule.window_seconds == 3600 and rule.tokens == 10 and rule.usd is None


def test_precall_outside_any_span_checks_only_trace_free_scopes(harness: Harness, tmp_path,
                                                               caplog) -> None:
    harness.settings(budget_trace_tokens=10, budget_mode=BudgetMode.ENFORCE)
    with harness.tracer.start_as_current_span("job"):
        harness.llm("gpt-4o-mini")
        with pytest.raises(BudgetExceededError):  # the gate is armed for that trace…
            _precall()
    with caplog.at_level(logging.DEBUG, logger="tripwire"):
        _precall(context.Context())  # …but a call outside any trace has no trace budget
    assert not [r for r in caplog.records if "failed" in r.getMessage()]  # not a gate error
    # a global budget applies outside any span too
    harness.settings(budget_mode=BudgetMode.ENFORCE, budgets_file=_budgets_file(
        tmp_path, {"name": "all", "scope": "global", "tokens": 10}))
    harness.llm("gpt-4o-mini")
    with pytest.raises(BudgetExceededError) as info:
        _precall(context.Context())
    assert info.value.limit == 10 and info.value.scope == "global"
