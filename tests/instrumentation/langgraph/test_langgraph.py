"""LangGraph runs as workflow and agent spans, with supersteps, recursion-limit flags and the
processor's rollups, through the real langgraph and langchain-openai against the fake OpenAI
server."""

from __future__ import annotations

import asyncio
import json
import operator
from typing import Annotated, Any, TypedDict

import pytest
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.testing.openai_server import chat_reply

from .conftest import GraphEnv

langgraph = pytest.importorskip("langgraph")
from langchain_core.tools import tool  # noqa: E402
from langgraph.errors import GraphRecursionError  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402


class State(TypedDict):
    question: str
    notes: Annotated[list[str], operator.add]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _two_step_graph(env: GraphEnv, name: str = "support") -> Any:
    model = env.chat_model()

    def research(state: State) -> dict[str, Any]:
        return {"notes": [model.invoke(state["question"]).content]}

    def check(state: State) -> dict[str, Any]:
        return {"notes": [get_weather.invoke({"city": "Paris"})]}

    async def aresearch(state: State) -> dict[str, Any]:
        return {"notes": [(await model.ainvoke(state["question"])).content]}

    async def acheck(state: State) -> dict[str, Any]:
        return {"notes": [await get_weather.ainvoke({"city": "Paris"})]}

    builder = StateGraph(State)
    builder.add_node("research", research, afunc=aresearch)  # type: ignore[call-arg]
    builder.add_node("check", check, afunc=acheck)  # type: ignore[call-arg]
    builder.add_edge(START, "research")
    builder.add_edge("research", "check")
    builder.add_edge("check", END)
    return builder.compile(name=name)


def _run(graph: Any, how: str, inputs: Any, config: Any = None) -> Any:
    if how == "invoke":
        return graph.invoke(inputs, config)
    if how == "ainvoke":
        return asyncio.run(graph.ainvoke(inputs, config))
    if how == "stream":
        return list(graph.stream(inputs, config))
    async def consume() -> list[Any]:
        return [chunk async for chunk in graph.astream(inputs, config)]
    return asyncio.run(consume())


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream", "astream"])
def test_graph_run_is_a_workflow_span_over_its_calls(env: GraphEnv, how: str) -> None:
    env.server.enqueue(chat_reply("Looked it up.", usage=(120, 8)))
    graph = _two_step_graph(env)
    out = _run(graph, how, {"question": "Weather?", "notes": []},
               {"configurable": {"thread_id": "t-42"}})
    assert out  # the app gets the graph's output as without instrumentation

    workflow = env.one("invoke_workflow support")
    assert workflow.parent is None
    attrs = workflow.attributes
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_WORKFLOW
    assert attrs[sc.GEN_AI_WORKFLOW_NAME] == "support"
    assert attrs[sc.GEN_AI_CONVERSATION_ID] == "t-42"
    assert attrs[sc.TRIPWIRE_AGENT_SUPERSTEPS] == 2  # research, then check
    # what the nodes did nests under the run
    chat = env.one("chat gpt-4o-mini")
    assert env.parent_name(chat) == "invoke_workflow support"
    assert env.parent_name(env.one("execute_tool get_weather")) == "invoke_workflow support"
    # and the processor rolls it up
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    assert attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 1
    assert attrs[sc.TRIPWIRE_AGENT_STEPS] == 2
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 120
    assert attrs[sc.TRIPWIRE_AGENT_COST_USD] == pytest.approx(chat.attributes[sc.TRIPWIRE_COST_USD])
    assert workflow.status.status_code is not StatusCode.ERROR


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # create_react_agent moved
def test_prebuilt_react_agent_is_an_agent_span(env: GraphEnv) -> None:
    from langgraph.prebuilt import create_react_agent

    env.server.enqueue(
        chat_reply(tool_calls=[("call_1", "get_weather", json.dumps({"city": "Oslo"}))],
                   usage=(50, 5)),
        chat_reply("Sunny in Oslo.", usage=(80, 6)),
    )
    agent = create_react_agent(env.chat_model(), [get_weather], name="weather")
    result = agent.invoke({"messages": [("user", "Oslo?")]})
    assert result["messages"][-1].content == "Sunny in Oslo."

    span = env.one("invoke_agent weather")
    attrs = span.attributes
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_AGENT
    assert attrs[sc.GEN_AI_AGENT_NAME] == "weather"
    assert attrs[sc.TRIPWIRE_AGENT_SUPERSTEPS] == 3  # model, tools, model
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert attrs[sc.TRIPWIRE_AGENT_TOOL_CALLS] == 1
    assert attrs[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 130
    assert {env.parent_name(c) for c in env.named("chat gpt-4o-mini")} == {"invoke_agent weather"}
    tool_span = env.one("execute_tool get_weather")
    assert env.parent_name(tool_span) == "invoke_agent weather"
    assert tool_span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"


def test_recursion_limit_is_flagged_and_the_error_reaches_the_app(env: GraphEnv) -> None:
    def again(state: State) -> dict[str, Any]:
        return {"notes": ["again"]}

    builder = StateGraph(State)
    builder.add_node("again", again)
    builder.add_edge(START, "again")
    builder.add_conditional_edges("again", lambda state: "again")  # never stops
    graph = builder.compile(name="spinner")
    with pytest.raises(GraphRecursionError):
        graph.invoke({"question": "?", "notes": []}, {"recursion_limit": 4})

    span = env.one("invoke_workflow spinner")
    attrs = span.attributes
    assert attrs[sc.TRIPWIRE_AGENT_RECURSION_LIMIT_REACHED] is True
    assert attrs[sc.TRIPWIRE_AGENT_RECURSION_LIMIT] == 4
    assert attrs[sc.TRIPWIRE_AGENT_SUPERSTEPS] == 4
    assert attrs[sc.ERROR_TYPE] == "GraphRecursionError"
    assert span.status.status_code is StatusCode.ERROR


def test_subgraph_run_nests_and_rolls_up_into_its_parent(env: GraphEnv) -> None:
    env.server.enqueue(chat_reply("inner", usage=(10, 2)), chat_reply("outer", usage=(20, 3)))
    inner = _two_step_graph(env, name="researcher")
    model = env.chat_model()

    def summarise(state: State) -> dict[str, Any]:
        return {"notes": [model.invoke("sum up").content]}

    builder = StateGraph(State)
    builder.add_node("research", inner)
    builder.add_node("summarise", summarise)
    builder.add_edge(START, "research")
    builder.add_edge("research", "summarise")
    builder.add_edge("summarise", END)
    builder.compile(name="pipeline").invoke({"question": "?", "notes": []})

    inner_span = env.one("invoke_workflow researcher")
    assert env.parent_name(inner_span) == "invoke_workflow pipeline"
    assert inner_span.attributes[sc.TRIPWIRE_AGENT_LLM_CALLS] == 1
    outer = env.one("invoke_workflow pipeline").attributes
    assert outer[sc.TRIPWIRE_AGENT_SUPERSTEPS] == 2
    assert outer[sc.TRIPWIRE_AGENT_LLM_CALLS] == 2
    assert outer[sc.TRIPWIRE_AGENT_INPUT_TOKENS] == 30


def test_stream_left_early_ends_the_span_once(env: GraphEnv) -> None:
    env.server.enqueue(chat_reply("x", usage=(1, 1)))
    graph = _two_step_graph(env)
    stream = graph.stream({"question": "?", "notes": []})
    next(stream)
    stream.close()
    span = env.one("invoke_workflow support")
    assert span.status.status_code is not StatusCode.ERROR
    assert span.attributes[sc.TRIPWIRE_AGENT_SUPERSTEPS] >= 1  # as far as it got
    assert len(env.named("invoke_workflow support")) == 1


def test_uninstrument_stops_recording(env: GraphEnv) -> None:
    from tripwire.instrumentation.langgraph import LangGraphInstrumentor

    LangGraphInstrumentor().uninstrument()
    env.server.enqueue(chat_reply("x", usage=(1, 1)))
    _two_step_graph(env).invoke({"question": "?", "notes": []})
    assert not [s for s in env.spans() if s.name.startswith("invoke_")]
    LangGraphInstrumentor().instrument()  # the fixture uninstruments it again


@pytest.fixture
def enforcing_env() -> Any:
    from tripwire.settings import load_settings

    from .conftest import graph_env

    yield from graph_env(load_settings({"TRIPWIRE_BUDGET_AGENT_RUN_USD": "0.005",
                                        "TRIPWIRE_BUDGET_MODE": "enforce"}))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_runaway_react_agent_is_stopped_by_the_agent_run_budget(enforcing_env: GraphEnv) -> None:
    from langgraph.prebuilt import create_react_agent

    from tripwire.errors import BudgetExceededError
    from tripwire.testing.openai_server import RecordedRequest

    env = enforcing_env
    turns = iter(range(1, 1000))

    def forever(request: RecordedRequest) -> Any:  # the model never stops calling the tool
        env.server.enqueue(forever)
        return chat_reply(tool_calls=[(f"call_{next(turns)}", "get_weather",
                                       json.dumps({"city": "Oslo"}))],
                          usage=(10_000, 100)).render(request, env.server)

    env.server.enqueue(forever)
    agent = create_react_agent(env.chat_model(), [get_weather], name="looper")
    with pytest.raises(BudgetExceededError) as info:
        agent.invoke({"messages": [("user", "Oslo?")]}, {"recursion_limit": 200})
    assert info.value.scope == "agent"
    # ~$0.0016 a call: the 4th crosses $0.005, the 5th is refused before it is sent
    assert len(env.server.requests_to("/chat/completions")) == 4
    attrs = env.one("invoke_agent looper").attributes
    assert attrs[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert attrs[sc.TRIPWIRE_AGENT_LLM_CALLS] == 4
    assert attrs[sc.TRIPWIRE_AGENT_TOOL_LOOP] is True  # the same call, again and again
    assert attrs[sc.ERROR_TYPE] == "BudgetExceededError"
