"""A multi-agent run, fully offline: a triage agent hands off to a billing specialist with
tools, through the real OpenAI Agents SDK and the real ``openai`` client, against tripwire's
fake OpenAI server. Each run prints as a trace tree.

    python examples/agent_demo.py            # or: make demo-agent

1. A good run: triage -> billing, two tool calls, an answer. The workflow and agent spans
   carry the run's cost, LLM and tool calls, and steps.
2. A loop: the specialist looks the same order up again and again before answering; the
   tool spans and the agent span say ``TOOL LOOP``.
3. A runaway run: the model never stops calling its tool. The per-agent-run budget
   (``TRIPWIRE_BUDGET_AGENT_RUN_USD``, enforce mode) refuses the call that would start over
   it; ``BudgetExceededError`` leaves ``Runner.run``, long before ``max_turns``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tripwire import BudgetExceededError
from tripwire.console import TraceTreeExporter
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import update_settings
from tripwire.testing.openai_server import FakeOpenAIServer, RecordedRequest, responses_reply

MODEL = "gpt-4o-mini"
AGENT_RUN_BUDGET_USD = 0.01  # gpt-4o-mini: ~$0.0021 a call of 10,000 + 100 tokens
ORDERS = {"1234": {"status": "shipped", "amount": "42.00 EUR"}}


def build_agents(server: FakeOpenAIServer) -> Any:
    import agents

    @agents.function_tool
    def lookup_order(order_id: str) -> str:
        """Look up an order by its id."""
        return json.dumps(ORDERS.get(order_id, {"status": "unknown"}))

    @agents.function_tool
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refund of order {order_id} started"

    def model() -> Any:
        return agents.OpenAIResponsesModel(model=MODEL, openai_client=server.async_client())

    billing = agents.Agent(name="billing", instructions="Answer billing questions.",
                           tools=[lookup_order, refund], model=model())
    triage = agents.Agent(name="triage", instructions="Route to the right specialist.",
                          handoffs=[billing], model=model())
    return triage


def call(call_id: str, name: str, **arguments: Any) -> tuple[str, str, str]:
    return (call_id, name, json.dumps(arguments))


def script_good_run(server: FakeOpenAIServer) -> None:
    server.enqueue(
        responses_reply(tool_calls=[call("h1", "transfer_to_billing")], usage=(300, 12)),
        responses_reply(tool_calls=[call("c1", "lookup_order", order_id="1234")],
                        usage=(420, 20)),
        responses_reply(tool_calls=[call("c2", "refund", order_id="1234")], usage=(480, 18)),
        responses_reply("Order 1234 (42.00 EUR) is being refunded.", usage=(520, 14)),
    )


def script_loop(server: FakeOpenAIServer) -> None:
    server.enqueue(
        responses_reply(tool_calls=[call("h2", "transfer_to_billing")], usage=(300, 12)),
        *[responses_reply(tool_calls=[call(f"l{i}", "lookup_order", order_id="9999")],
                          usage=(400 + 50 * i, 16)) for i in range(1, 5)],
        responses_reply("I could not find order 9999.", usage=(640, 10)),
    )


def script_runaway(server: FakeOpenAIServer) -> None:
    turns = itertools.count(1)

    def forever(request: RecordedRequest) -> Any:
        server.enqueue(forever)
        return responses_reply(tool_calls=[call(f"r{next(turns)}", "lookup_order",
                                                order_id="7777")],
                               usage=(10_000, 100)).render(request, server)

    server.enqueue(responses_reply(tool_calls=[call("h3", "transfer_to_billing")],
                                   usage=(300, 12)), forever)


def main() -> int:
    import agents

    # Enforce mode: a run whose spending reached its budget is refused its next call.
    update_settings(budget_mode="enforce", budget_agent_run_usd=AGENT_RUN_BUDGET_USD)
    resource = Resource.create({"service.name": "agent-demo"})
    meter_provider = MeterProvider(resource=resource, metric_readers=[InMemoryMetricReader()])
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(EnrichingSpanProcessor(
        SimpleSpanProcessor(TraceTreeExporter()), meter_provider=meter_provider))
    agents.set_trace_processors([])  # nothing goes to OpenAI's dashboard: offline
    # The SDK logs the refused call at ERROR; the trace tree and the message below say it.
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)
    for instrumentor in (OpenAIInstrumentor(), OpenAIAgentsInstrumentor()):
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    server = FakeOpenAIServer().start()
    try:
        for title, script, question in (
            ("1. a good run: triage -> billing with tools", script_good_run,
             "Please refund order 1234."),
            ("2. a loop: the same lookup again and again", script_loop, "Where is order 9999?"),
            ("3. a runaway run, stopped by the per-agent-run budget "
             f"(${AGENT_RUN_BUDGET_USD} a run, enforce mode)", script_runaway,
             "Where is order 7777?"),
        ):
            print(f"=== {title}\nuser: {question}")
            script(server)
            triage = build_agents(server)  # a client per run: each asyncio.run has its loop
            try:
                result = asyncio.run(agents.Runner.run(triage, question, max_turns=100))
                print(f"agent: {result.final_output}\n")
            except BudgetExceededError as exc:
                print(f"stopped: {exc}\n")
        calls = len(server.requests_to("/responses"))
        print(f"model calls sent: {calls} (the runaway run's next call was never sent)")
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
