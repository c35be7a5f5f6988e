"""What an agent step costs (section ``agents``).

- ``processor``: one agent step — a chat span with usage and an ``execute_tool`` span — through
  an SDK provider whose ``BatchSpanProcessor`` is wrapped by the ``EnrichingSpanProcessor``,
  inside an open ``invoke_agent`` span (run tracking, rollup, per-run tool loops, cost by
  agent) and, as the base, the same spans with no agent span around them; plus the same
  inside a run with an agent-run budget (flag mode: charged to the run's account). µs per
  step (median of rounds, p10…p90), paired per round.
- ``langgraph``: one superstep of a compiled graph (a node that only updates the state),
  ``LangGraphInstrumentor`` on vs off, µs per superstep: the run span and its generator
  proxy amortised over the run, and the superstep hook.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from harness import block, fmt, paired, providers, stats
from opentelemetry.trace import SpanKind

STEPS = 20  # agent steps per run (processor), supersteps per graph run (langgraph)


def _step(tracer: Any, i: int) -> None:
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini"}) as span:
        span.set_attributes({"gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                             "gen_ai.usage.input_tokens": 1200,
                             "gen_ai.usage.output_tokens": 80})
    with tracer.start_as_current_span("execute_tool lookup", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
            "tripwire.tool.arguments_hash": f"h{i % 7}"}):
        pass


def _run_op(tracer: Any, agent: bool) -> Callable[[], None]:
    def run() -> None:
        with tracer.start_as_current_span("request"):
            if agent:
                with tracer.start_as_current_span("invoke_agent support", attributes={
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": "support"}):
                    for i in range(STEPS):
                        _step(tracer, i)
            else:
                for i in range(STEPS):
                    _step(tracer, i)
    return run


def run_processor(rounds: int, runs: int) -> dict[str, Any]:
    from tripwire.runtime import get_runtime, set_settings
    from tripwire.settings import Settings

    tracer_provider, _ = providers(enrich=True)
    tracer = tracer_provider.get_tracer("bench.agents")
    plain, agent = _run_op(tracer, False), _run_op(tracer, True)
    base: list[float] = []
    with_agent: list[float] = []
    with_budget: list[float] = []
    budget = dataclasses.replace(Settings(), budget_agent_run_usd=1000.0)
    try:
        for _ in range(rounds):
            set_settings(Settings())
            base.append(block(plain, runs) / STEPS)
            with_agent.append(block(agent, runs) / STEPS)
            set_settings(budget)
            with_budget.append(block(agent, runs) / STEPS)
    finally:
        set_settings(None)
        tracer_provider.shutdown()
        get_runtime().clear_state()
    return {"steps_per_run": STEPS, "base_us_per_step": stats(base),
            "agent_us_per_step": stats(with_agent),
            "agent_added_us_per_step": paired(with_agent, base),
            "agent_budget_added_us_per_step": paired(with_budget, base)}


class _State(TypedDict):
    n: Annotated[int, operator.add]


def _graph() -> Any:
    from langgraph.graph import START, StateGraph

    builder = StateGraph(_State)
    builder.add_node("step", lambda state: {"n": 1})
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda state: "step" if state["n"] < STEPS else "__end__")
    return builder.compile(name="bench")


def run_langgraph(rounds: int, runs: int) -> dict[str, Any] | None:
    try:
        from tripwire.instrumentation.langgraph import LangGraphInstrumentor
    except ImportError:
        return None
    try:
        graph = _graph()
    except ImportError:
        return None
    tracer_provider, meter_provider = providers(enrich=True)
    instrumentor = LangGraphInstrumentor()

    def op() -> None:
        graph.invoke({"n": 0})

    off: list[float] = []
    on: list[float] = []
    try:
        for _ in range(rounds):
            off.append(block(op, runs) / STEPS)
            instrumentor.instrument(tracer_provider=tracer_provider,
                                    meter_provider=meter_provider)
            on.append(block(op, runs) / STEPS)
            instrumentor.uninstrument()
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        tracer_provider.shutdown()
    return {"supersteps_per_run": STEPS, "off_us_per_superstep": stats(off),
            "on_us_per_superstep": stats(on), "added_us_per_superstep": paired(on, off)}


def run_agents(rounds: int, runs: int) -> dict[str, Any]:
    return {"processor": run_processor(rounds, runs), "langgraph": run_langgraph(rounds, runs)}


def print_agents(result: dict[str, Any]) -> None:
    p = result["processor"]
    print("\n== Agents: cost per agent step (µs, median, p10…p90)")
    print(f"processor, one step = chat span + execute_tool span, {p['steps_per_run']} steps a "
          f"run: no agent span {fmt(p['base_us_per_step'])} µs/step; inside an invoke_agent "
          f"span {fmt(p['agent_us_per_step'])}, added {fmt(p['agent_added_us_per_step'], 2)}"
          f" µs/step; with an agent-run budget, added "
          f"{fmt(p['agent_budget_added_us_per_step'], 2)} µs/step")
    g = result["langgraph"]
    if g is None:
        print("langgraph: not installed, skipped")
        return
    print(f"langgraph, {g['supersteps_per_run']} supersteps a run: uninstrumented "
          f"{fmt(g['off_us_per_superstep'])} µs/superstep, instrumented "
          f"{fmt(g['on_us_per_superstep'])}, added {fmt(g['added_us_per_superstep'], 2)} "
          f"µs/superstep")
