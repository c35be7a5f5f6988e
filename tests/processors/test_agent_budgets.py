"""Budgets per agent run (``scope: agent``) on foreign agent spans, through the processor
alone, in flag mode: each run (each open ``invoke_agent`` / ``invoke_workflow`` span) has its
own account, named by its agent; crossing it flags the call, the run's span and the root."""

from __future__ import annotations

import json

import pytest

from tripwire import semconv as sc
from tripwire.budgets import parse_budgets
from tripwire.errors import ConfigError

from .conftest import Harness

# gpt-4o-mini: 1000 input + 100 output tokens cost $0.00021
CALL_USD = 1000 * 0.15e-6 + 100 * 0.6e-6


def _budgets_file(tmp_path, *rules: dict) -> str:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": list(rules)}))
    return str(path)


def _adk_agent(harness: Harness, name: str, calls: int) -> None:
    # Google ADK's agent span: named "invoke_agent {name}", attributes set after it starts.
    with harness.tracer.start_as_current_span(f"invoke_agent {name}") as span:
        span.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_INVOKE_AGENT)
        span.set_attribute(sc.GEN_AI_AGENT_NAME, name)
        for _ in range(calls):
            with harness.tracer.start_as_current_span("call_llm"):  # ADK's step span
                harness.llm()


def test_each_agent_run_has_its_own_account(harness: Harness, tmp_path) -> None:
    harness.settings(budgets_file=_budgets_file(
        tmp_path, {"name": "per-run", "scope": "agent", "usd": 2.5 * CALL_USD}))
    with harness.tracer.start_as_current_span("request"):
        _adk_agent(harness, "researcher", 3)  # 3 calls: over
        _adk_agent(harness, "researcher", 2)  # the same agent, a new run: under
    first, second = [s for s in harness.spans() if s.name == "invoke_agent researcher"]
    assert first.attributes[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert first.attributes[sc.TRIPWIRE_BUDGET_NAME] == "per-run"
    assert first.attributes[sc.TRIPWIRE_BUDGET_SCOPE] == "agent"
    assert first.attributes[sc.TRIPWIRE_BUDGET_LIMIT_USD] == pytest.approx(2.5 * CALL_USD)
    assert sc.TRIPWIRE_BUDGET_EXCEEDED not in second.attributes
    calls = [s for s in harness.spans() if s.name == "chat gpt-4o-mini"]
    # flag mode: every call went ahead; the third crossed the limit and says so
    assert [bool(c.attributes.get(sc.TRIPWIRE_BUDGET_EXCEEDED)) for c in calls] == [
        False, False, True, False, False]
    assert [bool(c.attributes.get(sc.TRIPWIRE_BUDGET_WARNING)) for c in calls] == [
        False, True, False, False, True]
    assert harness.span("request").attributes[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
    ((attrs, value),) = harness.points(sc.METRIC_BUDGET_VIOLATIONS)
    assert value == 1
    assert attrs[sc.TRIPWIRE_BUDGET_SCOPE] == "agent"
    assert attrs[sc.TRIPWIRE_BUDGET_NAME] == "per-run"
    # an over-limit run account ends with its run: never pinned (one per run would pile up)
    assert harness.processor.runtime.ledger.pinned == 0


def test_nested_runs_are_charged_to_every_run_around_them(harness: Harness) -> None:
    # TRIPWIRE_BUDGET_AGENT_RUN_USD; pydantic-ai-shaped workflow around ADK-shaped agents
    harness.settings(budget_agent_run_usd=4.5 * CALL_USD)
    with harness.tracer.start_as_current_span(
            "invoke_workflow support", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                                                   sc.GEN_AI_WORKFLOW_NAME: "support"}):
        _adk_agent(harness, "triage", 2)
        _adk_agent(harness, "billing", 3)
    # neither agent run reached 4.5 calls; the workflow's run (5 calls) did
    for name in ("invoke_agent triage", "invoke_agent billing"):
        assert sc.TRIPWIRE_BUDGET_EXCEEDED not in harness.span(name).attributes
    workflow = harness.span("invoke_workflow support").attributes
    assert workflow[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert workflow[sc.TRIPWIRE_BUDGET_NAME] == "agent_run"
    assert workflow[sc.TRIPWIRE_AGENT_LLM_CALLS] == 5


def test_calls_outside_agent_runs_are_not_charged(harness: Harness) -> None:
    harness.settings(budget_agent_run_usd=0.5 * CALL_USD)
    with harness.tracer.start_as_current_span("request"):
        harness.llm()
        harness.llm()
    assert harness.points(sc.METRIC_BUDGET_VIOLATIONS) == []
    assert not any(s.attributes.get(sc.TRIPWIRE_BUDGET_EXCEEDED) for s in harness.spans())


def test_budgets_file_accepts_scope_agent() -> None:
    (rule,) = parse_budgets({"budgets": [{"name": "run", "scope": "agent", "usd": 1}]})
    assert rule.scope == "agent" and rule.usd == 1.0
    with pytest.raises(ConfigError, match="agent"):
        parse_budgets({"budgets": [{"name": "run", "scope": "agents", "usd": 1}]})
