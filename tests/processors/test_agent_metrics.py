"""Per-agent metrics: ``tripwire.cost`` carries the ``gen_ai.agent.name`` of the agent run a
call belongs to, and ``tripwire.agent.runs`` counts runs by agent / workflow and outcome —
what the dashboards' per-agent panels query. Foreign (ADK-shaped) spans through the
processor."""

from __future__ import annotations

import pytest

from tripwire import semconv as sc

from .conftest import Harness

CALL_USD = 1000 * 0.15e-6 + 100 * 0.6e-6  # gpt-4o-mini, 1000 in / 100 out


def _agent(harness: Harness, name: str, calls: int, error: str | None = None) -> None:
    with harness.tracer.start_as_current_span(f"invoke_agent {name}") as span:
        span.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_INVOKE_AGENT)
        span.set_attribute(sc.GEN_AI_AGENT_NAME, name)
        for _ in range(calls):
            with harness.tracer.start_as_current_span("call_llm"):
                harness.llm()
        if error:
            span.set_attribute(sc.ERROR_TYPE, error)


def test_cost_and_runs_by_agent(harness: Harness) -> None:
    with harness.tracer.start_as_current_span(
            "invoke_workflow support", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                                                   sc.GEN_AI_WORKFLOW_NAME: "support"}):
        _agent(harness, "triage", 1)
        _agent(harness, "billing", 2)
        _agent(harness, "billing", 1, error="agent_error")
        harness.llm()  # in the workflow, outside any agent: the workflow's name
    harness.llm()  # outside any run: no agent name

    cost = {(a.get(sc.GEN_AI_AGENT_NAME), a.get(sc.GEN_AI_WORKFLOW_NAME)): v
            for a, v in harness.points(sc.METRIC_COST)}
    assert cost == {("triage", None): pytest.approx(CALL_USD),
                    ("billing", None): pytest.approx(3 * CALL_USD),
                    (None, "support"): pytest.approx(CALL_USD),
                    (None, None): pytest.approx(CALL_USD)}
    runs = {(a.get(sc.GEN_AI_AGENT_NAME), a.get(sc.GEN_AI_WORKFLOW_NAME), a.get(sc.ERROR_TYPE),
             a[sc.GEN_AI_OPERATION_NAME]): v for a, v in harness.points(sc.METRIC_AGENT_RUNS)}
    assert runs == {
        ("triage", None, None, sc.OP_INVOKE_AGENT): 1,
        ("billing", None, None, sc.OP_INVOKE_AGENT): 1,
        ("billing", None, "agent_error", sc.OP_INVOKE_AGENT): 1,
        (None, "support", None, sc.OP_INVOKE_WORKFLOW): 1,
    }
