"""Per-agent-run budgets (``scope: agent``, ``TRIPWIRE_BUDGET_AGENT_RUN_USD``) with the real
``openai-agents`` SDK against the fake OpenAI server: enforce mode stops a runaway run before
its next call; the next run has its own account."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tripwire import semconv as sc
from tripwire.errors import BudgetExceededError
from tripwire.settings import load_settings
from tripwire.testing.openai_server import RecordedRequest, responses_reply

from .conftest import AgentsEnv, _env

agents = pytest.importorskip("agents")


@agents.function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def agent_run_budget_env() -> Iterator[AgentsEnv]:
    settings = load_settings({"TRIPWIRE_BUDGET_AGENT_RUN_USD": "0.01",
                              "TRIPWIRE_BUDGET_MODE": "enforce"})
    yield from _env(settings, with_openai=True)


def test_runaway_run_is_stopped_by_the_agent_run_budget(
        agent_run_budget_env: AgentsEnv) -> None:
    env = agent_run_budget_env
    turns = itertools.count(1)

    def forever(request: RecordedRequest) -> Any:  # the model never stops calling the tool
        env.server.enqueue(forever)
        return responses_reply(
            tool_calls=[(f"call_{next(turns)}", "get_weather", json.dumps({"city": "Paris"}))],
            usage=(10_000, 100)).render(request, env.server)

    env.server.enqueue(forever)
    agent = agents.Agent(name="looper", instructions="Loop.", tools=[get_weather],
                         model=env.model())
    with pytest.raises(BudgetExceededError) as info:  # out of Runner.run, untouched
        asyncio.run(agents.Runner.run(agent, "go", max_turns=1000))
    assert info.value.budget == "agent_run"
    assert info.value.scope == "agent"
    assert info.value.limit == 0.01

    # ~$0.0016 a call: the 7th crosses $0.01, the 8th is refused before it is sent.
    assert len(env.server.requests_to("/responses")) == 7
    chats = env.named("chat gpt-4o-mini")
    assert len(chats) == 7
    crossed = [c for c in chats if c.attributes.get(sc.TRIPWIRE_BUDGET_EXCEEDED)]
    assert crossed == [chats[-1]]
    assert crossed[0].attributes[sc.TRIPWIRE_BUDGET_SCOPE] == "agent"
    assert crossed[0].attributes[sc.TRIPWIRE_BUDGET_NAME] == "agent_run"
    # Both runs the calls belong to are over: the agent's and the workflow's around it.
    for name in ("invoke_agent looper", "invoke_workflow Agent workflow"):
        attrs = env.one(name).attributes
        assert attrs[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
        assert attrs[sc.TRIPWIRE_BUDGET_SCOPE] == "agent"
        assert attrs[sc.TRIPWIRE_BUDGET_LIMIT_USD] == 0.01
        assert attrs[sc.TRIPWIRE_AGENT_COST_USD] >= 0.01
    ((attrs, value),) = [(dict(p.attributes), p.value)
                         for p in env.points(sc.METRIC_BUDGET_VIOLATIONS)]
    assert attrs[sc.TRIPWIRE_BUDGET_SCOPE] == "agent"
    assert value == 2  # the agent run's account and the workflow run's

    # A new run of the same agent has its own account: not refused.
    env.exporter.clear()
    env.server.enqueue(responses_reply("Done.", usage=(100, 10)))
    again = agent.clone(model=env.model())  # a client of its own: the last loop is closed
    result = asyncio.run(agents.Runner.run(again, "once more"))
    assert result.final_output == "Done."
    assert sc.TRIPWIRE_BUDGET_EXCEEDED not in env.one("invoke_agent looper").attributes


def test_flag_mode_only_flags(agent_run_budget_env: AgentsEnv) -> None:
    from tripwire.runtime import replace_settings
    from tripwire.settings import BudgetMode

    env = agent_run_budget_env
    replace_settings(budget_mode=BudgetMode.FLAG)
    env.server.enqueue(*[
        responses_reply(tool_calls=[(f"call_{i}", "get_weather", json.dumps({"city": "Oslo"}))],
                        usage=(10_000, 100)) for i in range(8)],
        responses_reply("Sunny.", usage=(100, 5)))
    agent = agents.Agent(name="looper", instructions="Loop.", tools=[get_weather],
                         model=env.model())
    assert asyncio.run(agents.Runner.run(agent, "go", max_turns=20)).final_output == "Sunny."
    assert len(env.named("chat gpt-4o-mini")) == 9  # nothing refused
    assert env.one("invoke_agent looper").attributes[sc.TRIPWIRE_BUDGET_EXCEEDED] is True
