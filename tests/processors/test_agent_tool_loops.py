"""Tool-loop detection scoped to the agent run as well as the trace, on foreign agent and
tool spans (Google ADK's shapes) through the processor."""

from __future__ import annotations

from tripwire import semconv as sc

from .conftest import Harness


def _tool(harness: Harness, name: str, arguments: str) -> None:
    with harness.tracer.start_as_current_span(f"execute_tool {name}") as span:
        span.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_EXECUTE_TOOL)
        span.set_attribute(sc.GEN_AI_TOOL_NAME, name)
        span.set_attribute(sc.GEN_AI_TOOL_CALL_ARGUMENTS, arguments)  # hashed by the processor


def _agent(harness: Harness, name: str, tool_calls: int) -> None:
    with harness.tracer.start_as_current_span(f"invoke_agent {name}") as span:
        span.set_attribute(sc.GEN_AI_OPERATION_NAME, sc.OP_INVOKE_AGENT)
        span.set_attribute(sc.GEN_AI_AGENT_NAME, name)
        harness.llm()
        for _ in range(tool_calls):
            _tool(harness, "search", '{"q": "refund policy"}')


def test_loop_within_a_run_flags_the_tool_the_run_and_the_runs_around_it(
        harness: Harness) -> None:
    with harness.tracer.start_as_current_span(
            "invoke_workflow support", attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                                                   sc.GEN_AI_WORKFLOW_NAME: "support"}):
        _agent(harness, "researcher", 4)
    tools = [s for s in harness.spans() if s.name == "execute_tool search"]
    assert [t.attributes.get(sc.TRIPWIRE_TOOL_LOOP_RUN_COUNT) for t in tools] == [
        None, None, 3, 4]
    assert [t.attributes.get(sc.TRIPWIRE_TOOL_LOOP_COUNT) for t in tools] == [None, None, 3, 4]
    (loop_event,) = [e for t in tools for e in t.events if e.name == sc.EVENT_TOOL_LOOP]
    assert loop_event.attributes[sc.GEN_AI_AGENT_NAME] == "researcher"
    for name in ("invoke_agent researcher", "invoke_workflow support"):
        attrs = harness.span(name).attributes
        assert attrs[sc.TRIPWIRE_AGENT_TOOL_LOOP] is True
        assert attrs[sc.TRIPWIRE_AGENT_TOOL_LOOP_COUNT] == 4
    ((attrs, value),) = harness.points(sc.METRIC_TOOL_CALL_ERRORS)
    assert value == 1
    assert attrs[sc.TRIPWIRE_TOOL_CALL_ERROR_KIND] == sc.TOOL_ERROR_LOOP
    assert attrs[sc.GEN_AI_AGENT_NAME] == "researcher"
    assert attrs[sc.GEN_AI_TOOL_NAME] == "search"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"  # the model that asked for it


def test_the_same_call_in_separate_runs_is_a_trace_loop_only(harness: Harness) -> None:
    # One long trace (a chat session) whose runs each look the policy up twice.
    with harness.tracer.start_as_current_span("session"):
        _agent(harness, "researcher", 2)
        _agent(harness, "researcher", 2)
    tools = [s for s in harness.spans() if s.name == "execute_tool search"]
    assert [bool(t.attributes.get(sc.TRIPWIRE_TOOL_LOOP)) for t in tools] == [
        False, False, True, True]
    assert not any(sc.TRIPWIRE_TOOL_LOOP_RUN_COUNT in t.attributes for t in tools)
    for run in [s for s in harness.spans() if s.name == "invoke_agent researcher"]:
        assert sc.TRIPWIRE_AGENT_TOOL_LOOP not in run.attributes
