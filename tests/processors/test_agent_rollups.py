"""Agent rollups on agent spans from any emitter: foreign agent, LLM and tool spans shaped as
pydantic-ai and Google ADK emit them (their documented attributes), through the processor."""

from __future__ import annotations

import pytest

from tripwire import semconv as sc

from .conftest import Harness

PRICE_IN, PRICE_OUT = 0.15e-6, 0.6e-6  # gpt-4o-mini, USD per token


def _adk_tool(harness: Harness, name: str, call_id: str) -> None:
    # ADK's execute_tool span: gen_ai.operation.name, gen_ai.tool.* set after it starts.
    with harness.tracer.start_as_current_span(f"execute_tool {name}") as span:
        span.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_EXECUTE_TOOL)
        span.set_attribute(sc.GEN_AI_TOOL_NAME, name)
        span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, call_id)


def test_google_adk_agent_spans_get_their_subtree_totals(harness: Harness) -> None:
    # ADK: "invoke_agent {agent.name}", its attributes set after the span starts.
    with (harness.tracer.start_as_current_span("invocation"),
          harness.tracer.start_as_current_span("invoke_agent coordinator") as coordinator):
        coordinator.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_INVOKE_AGENT)
        coordinator.set_attribute(sc.GEN_AI_AGENT_NAME, "coordinator")
        coordinator.set_attribute(sc.GEN_AI_AGENT_DESCRIPTION, "Routes requests")
        coordinator.set_attribute(sc.GEN_AI_CONVERSATION_ID, "session-1")
        with harness.tracer.start_as_current_span("call_llm"):  # ADK's step span
            harness.llm(input_tokens=1000, output_tokens=100)
        _adk_tool(harness, "lookup", "c1")
        with harness.tracer.start_as_current_span("invoke_agent researcher") as researcher:
            researcher.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_INVOKE_AGENT)
            researcher.set_attribute(sc.GEN_AI_AGENT_NAME, "researcher")
            with harness.tracer.start_as_current_span("call_llm"):
                harness.llm(input_tokens=2000, output_tokens=200)
            _adk_tool(harness, "search", "c2")
            _adk_tool(harness, "search", "c3")
    researcher_attrs = harness.span("invoke_agent researcher").attributes
    assert researcher_attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    assert researcher_attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 2
    assert researcher_attrs[sc.TRIPWIRE_AGENT_STEPS] == 3
    assert researcher_attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 2000
    assert researcher_attrs[sc.TRIPWIRE_AGENT_COST_USD] == pytest.approx(
        2000 * PRICE_IN + 200 * PRICE_OUT)
    # the coordinator's subtree holds the researcher's too
    attrs = harness.span("invoke_agent coordinator").attributes
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 3
    assert attrs[sc.TRIPWIRE_AGENT_STEPS] == 5
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 3000
    assert attrs[sc.TRIPWIRE_AGENT_OUTPUT_TOKENS] == 300
    assert attrs[sc.TRIPWIRE_AGENT_COST_USD] == pytest.approx(
        3000 * PRICE_IN + 300 * PRICE_OUT)
    assert sc.TRIPWIRE_AGENT_MAX_STEPS_EXCEEDED not in attrs


def test_pydantic_ai_run_span_aggregate_usage_is_not_counted_again(harness: Harness) -> None:
    # pydantic-ai's run span: "invoke_agent {name}" with gen_ai.agent.name at start and its
    # run's aggregate gen_ai.usage.* at the end; no gen_ai.operation.name. It is the root.
    with harness.tracer.start_as_current_span(
            "invoke_agent support", attributes={sc.GEN_AI_AGENT_NAME: "support",
                                               "agent_name": "support"}) as run:
        harness.llm(input_tokens=500, output_tokens=50)
        with harness.tracer.start_as_current_span(
                "execute_tool refund", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                                                   sc.GEN_AI_TOOL_NAME: "refund",
                                                   sc.GEN_AI_TOOL_CALL_ID: "t1"}):
            pass
        harness.llm(input_tokens=700, output_tokens=70)
        run.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, 1200)  # the run's totals
        run.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 120)
    attrs = harness.span("invoke_agent support").attributes
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 1
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 1200  # not 2400
    assert attrs[sc.TRIPWIRE_TRACE_INPUT_TOKENS] == 1200
    assert sc.TRIPWIRE_COST_USD not in attrs
    (cost,) = [v for a, v in harness.points(sc.METRIC_COST)]
    assert cost == pytest.approx(1200 * PRICE_IN + 120 * PRICE_OUT)


def test_duplicate_call_spans_are_counted_once_in_the_agent(harness: Harness) -> None:
    # a framework's chat span around the client's chat span: one provider call
    with (harness.tracer.start_as_current_span(
            "invoke_agent a", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}),
          harness.tracer.start_as_current_span(
            "chat gpt-4o-mini", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                                            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"}) as outer):
        harness.llm(input_tokens=100, output_tokens=10)
        outer.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, 100)
        outer.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 10)
    attrs = harness.span("invoke_agent a").attributes
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 100


def test_max_steps_flag(harness: Harness) -> None:
    harness.settings(agent_max_steps=2)
    with harness.tracer.start_as_current_span(
            "invoke_agent busy", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}):
        for _ in range(3):
            harness.llm()
    attrs = harness.span("invoke_agent busy").attributes
    assert attrs[sc.TRIPWIRE_AGENT_STEPS] == 3
    assert attrs[sc.TRIPWIRE_AGENT_MAX_STEPS_EXCEEDED] is True


def test_guardrail_flag_from_any_emitter_counts_a_refusal(harness: Harness) -> None:
    with harness.tracer.start_as_current_span(
            "invoke_agent tutor", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
                                              sc.GEN_AI_AGENT_NAME: "tutor"}) as span:
        span.set_attribute(sc.TRIPWIRE_GUARDRAIL_TRIGGERED, True)
    ((attrs, value),) = harness.points(sc.METRIC_REFUSALS)
    assert value == 1
    assert attrs[sc.TRIPWIRE_REFUSAL_SOURCE] == sc.REFUSAL_SOURCE_GUARDRAIL
    assert attrs[sc.GEN_AI_AGENT_NAME] == "tutor"


def test_no_agent_spans_no_agent_state(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("request"):
        harness.llm()
    state = harness.processor.runtime.state
    assert len(state.agent_runs) == 0 and len(state.agent_links) == 0
    assert sc.TRIPWIRE_AGENT_LLM_CALLS not in harness.span("request").attributes


def test_pydantic_ai_run_span_inside_a_request_gets_its_rollup(harness: Harness) -> None:
    # The same run span as above, under a web request's server span (not the local root):
    # recognised by its name at its start, it gets its rollup although it carries no
    # gen_ai.operation.name; the request's spans in between are not kept.
    with harness.tracer.start_as_current_span("POST /support"), \
            harness.tracer.start_as_current_span(
                "invoke_agent support", attributes={sc.GEN_AI_AGENT_NAME: "support"}):
        with harness.tracer.start_as_current_span("db query"):
            pass
        harness.llm(input_tokens=500, output_tokens=50)
        harness.llm(input_tokens=700, output_tokens=70)
    attrs = harness.span("invoke_agent support").attributes
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 1200
    assert attrs[sc.TRIPWIRE_AGENT_COST_USD] == pytest.approx(1200 * PRICE_IN + 120 * PRICE_OUT)
    state = harness.processor.runtime.state
    assert len(state.agent_runs) == 0 and len(state.agent_links) == 0
