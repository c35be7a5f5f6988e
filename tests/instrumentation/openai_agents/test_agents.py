"""OpenAI Agents SDK runs as workflow, agent and tool spans, with the agent rollups, through
the real SDK and tripwire's OpenAI instrumentor against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

import tripwire
from tripwire import semconv as sc
from tripwire.errors import BudgetExceededError
from tripwire.testing.openai_server import RecordedRequest, responses_reply

from .conftest import AgentsEnv

agents = pytest.importorskip("agents")


@agents.function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _run(agent: Any, text: str) -> Any:
    return asyncio.run(agents.Runner.run(agent, text))


def test_multi_turn_tool_use_span_tree_and_rollup(env: AgentsEnv) -> None:
    env.server.enqueue(
        responses_reply(tool_calls=[("call_1", "get_weather", json.dumps({"city": "Paris"}))],
                        usage=(100, 10)),
        responses_reply(tool_calls=[("call_2", "get_weather", json.dumps({"city": "Rome"}))],
                        usage=(200, 10)),
        responses_reply("Sunny in both.", usage=(300, 5)),
    )
    agent = agents.Agent(name="weather", instructions="Be brief.", tools=[get_weather],
                         model=env.model())
    assert _run(agent, "Paris and Rome?").final_output == "Sunny in both."

    workflow = env.one("invoke_workflow Agent workflow")
    assert workflow.parent is None
    assert workflow.attributes[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_WORKFLOW
    assert workflow.attributes[sc.GEN_AI_WORKFLOW_NAME] == "Agent workflow"
    agent_span = env.one("invoke_agent weather")
    assert env.parent_name(agent_span) == "invoke_workflow Agent workflow"
    assert agent_span.attributes[sc.GEN_AI_AGENT_NAME] == "weather"
    # The model calls: recorded once, by the OpenAI instrumentor, under the agent span.
    chats = env.named("chat gpt-4o-mini")
    assert len(chats) == 3 and len(env.spans()) == 7
    assert {env.parent_name(c) for c in chats} == {"invoke_agent weather"}
    tools = env.named("execute_tool get_weather")
    assert [t.attributes[sc.GEN_AI_TOOL_CALL_ID] for t in tools] == ["call_1", "call_2"]
    assert {env.parent_name(t) for t in tools} == {"invoke_agent weather"}
    assert all(sc.TRIPWIRE_TOOL_ARGUMENTS_HASH in t.attributes for t in tools)
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in tools[0].attributes  # content off
    # The rollup: three calls, two tools, 600 + 25 tokens, the calls' cost.
    cost = sum(c.attributes[sc.TRIPWIRE_COST_USD] for c in chats)
    for span in (agent_span, workflow):
        attrs = span.attributes
        assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 3
        assert attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 2
        assert attrs[sc.TRIPWIRE_AGENT_STEPS] == 5
        assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 600
        assert attrs[sc.TRIPWIRE_AGENT_OUTPUT_TOKENS] == 25
        assert attrs[sc.TRIPWIRE_AGENT_COST_USD] == pytest.approx(cost)
        assert sc.TRIPWIRE_COST_USD not in attrs  # agent spans are never charged
    assert workflow.attributes[sc.TRIPWIRE_TRACE_LLM_CALLS] == 3


def test_handoff_is_an_event_on_the_handing_off_agent(env: AgentsEnv) -> None:
    specialist = agents.Agent(name="billing", instructions="Answer billing questions.",
                              model=env.model())
    triage = agents.Agent(name="triage", instructions="Route.", handoffs=[specialist],
                          model=env.model())
    env.server.enqueue(
        responses_reply(tool_calls=[("call_h", "transfer_to_billing", "{}")]),
        responses_reply("Your invoice is paid."),
    )
    assert _run(triage, "Is my invoice paid?").final_output == "Your invoice is paid."

    triage_span = env.one("invoke_agent triage")
    billing_span = env.one("invoke_agent billing")
    assert env.parent_name(triage_span) == env.parent_name(billing_span) == \
        "invoke_workflow Agent workflow"
    (handoff,) = [e for e in triage_span.events if e.name == sc.EVENT_AGENT_HANDOFF]
    assert handoff.attributes == {sc.TRIPWIRE_AGENT_HANDOFF_FROM: "triage",
                                  sc.TRIPWIRE_AGENT_HANDOFF_TO: "billing"}
    assert triage_span.attributes[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    assert billing_span.attributes[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    assert env.one("invoke_workflow Agent workflow").attributes[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2


def test_guardrail_that_trips_flags_the_agent_and_counts_a_refusal(env: AgentsEnv) -> None:
    @agents.input_guardrail
    async def no_homework(ctx: Any, agent: Any, text: Any) -> Any:
        return agents.GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    agent = agents.Agent(name="tutor", instructions="Help.", input_guardrails=[no_homework],
                         model=env.model())
    with pytest.raises(agents.InputGuardrailTripwireTriggered):
        _run(agent, "Do my homework")

    attrs = env.one("invoke_agent tutor").attributes
    assert attrs[sc.TRIPWIRE_GUARDRAIL_TRIGGERED] is True
    assert attrs[sc.TRIPWIRE_GUARDRAIL_NAME] == "no_homework"
    (point,) = env.points(sc.METRIC_REFUSALS)
    assert point.value == 1
    assert point.attributes[sc.TRIPWIRE_REFUSAL_SOURCE] == sc.REFUSAL_SOURCE_GUARDRAIL
    assert point.attributes[sc.GEN_AI_AGENT_NAME] == "tutor"


def test_guardrail_that_passes_flags_nothing(env: AgentsEnv) -> None:
    @agents.input_guardrail
    async def fine(ctx: Any, agent: Any, text: Any) -> Any:
        return agents.GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    agent = agents.Agent(name="tutor", instructions="Help.", input_guardrails=[fine],
                         model=env.model())
    _run(agent, "Explain fractions")
    assert sc.TRIPWIRE_GUARDRAIL_TRIGGERED not in env.one("invoke_agent tutor").attributes
    assert env.points(sc.METRIC_REFUSALS) == []


def test_runaway_loop_is_stopped_by_the_budget(enforcing_env: AgentsEnv) -> None:
    env = enforcing_env

    turns = itertools.count(1)

    def forever(request: RecordedRequest) -> Any:  # the model never stops calling the tool
        env.server.enqueue(forever)
        return responses_reply(
            tool_calls=[(f"call_{next(turns)}", "get_weather", json.dumps({"city": "Paris"}))],
            usage=(10_000, 100)).render(request, env.server)

    env.server.enqueue(forever)
    agent = agents.Agent(name="looper", instructions="Loop.", tools=[get_weather],
                         model=env.model())
    with tripwire.budget(usd=0.01, name="run") as run, pytest.raises(BudgetExceededError):
        asyncio.run(agents.Runner.run(agent, "go", max_turns=1000))

    # ~$0.0016 a call (10,000 + 100 tokens of gpt-4o-mini): the 7th call crosses $0.01 and
    # the 8th is refused before it is sent, far before max_turns.
    calls = len(env.server.requests_to("/responses"))
    assert calls == 7
    assert run.spent_usd >= 0.01
    agent_span = env.one("invoke_agent looper")
    assert agent_span.attributes[sc.TRIPWIRE_AGENT_LLM_CALLS] == calls
    tools = env.named("execute_tool get_weather")
    assert agent_span.attributes[sc.TRIPWIRE_AGENT_TOOL_CALLS] == len(tools) == 7
    # the same tool with the same arguments, again and again: a loop
    assert any(t.attributes.get(sc.TRIPWIRE_TOOL_LOOP) for t in env.named("execute_tool get_weather"))


def test_without_the_openai_instrumentor_model_calls_come_from_the_sdk(
        env_without_openai: AgentsEnv) -> None:
    env = env_without_openai
    env.server.enqueue(
        responses_reply(tool_calls=[("call_1", "get_weather", json.dumps({"city": "Oslo"}))],
                        usage=(40, 4)),
        responses_reply("Sunny.", usage=(50, 2)),
    )
    agent = agents.Agent(name="weather", instructions="Be brief.", tools=[get_weather],
                         model=env.model())
    _run(agent, "Oslo?")
    chats = [s for s in env.spans() if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == sc.OP_CHAT]
    assert len(chats) == 2  # one span per call, not two
    assert {env.parent_name(c) for c in chats} == {"invoke_agent weather"}
    assert [c.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for c in chats] == [40, 50]
    assert chats[0].attributes[sc.GEN_AI_RESPONSE_ID] == "resp_fake000001"
    assert chats[0].name == "chat gpt-4o-mini-2024-07-18"
    assert env.one("invoke_agent weather").attributes[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 90


def test_uninstrument_stops_recording(env: AgentsEnv) -> None:
    from tripwire.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().uninstrument()
    agent = agents.Agent(name="quiet", instructions="Hi.", model=env.model())
    _run(agent, "hello")
    assert not [s for s in env.spans() if s.name.startswith(("invoke_", "execute_tool"))]
    OpenAIAgentsInstrumentor().instrument()  # the fixture uninstruments it again


def test_hostile_agent_name_and_usage_cost_only_themselves(env_without_openai: AgentsEnv) -> None:
    """An agent named with a lone surrogate is exported (made encodable, as every span of
    ours is) and an absurd token count from the SDK's usage is flagged, not charged."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    env = env_without_openai
    env.server.enqueue(responses_reply("Hi.", usage=(10**12, 2)))
    agent = agents.Agent(name="helper\ud800", instructions="Be brief.", model=env.model())
    _run(agent, "hello")
    [run] = [s for s in env.spans() if s.name.startswith("invoke_agent")]
    assert run.name == "invoke_agent helper?"
    encode_spans(env.spans())  # the whole batch is encodable
    [chat] = [s for s in env.spans() if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == sc.OP_CHAT]
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in chat.attributes
    assert chat.attributes[sc.TRIPWIRE_USAGE_INVALID] is True
    assert chat.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
