"""Agent rollups: cost, tokens, LLM calls, tool calls and steps of every agent or workflow
span's subtree, whoever emitted it (tripwire's instrumentors, a framework's native spans,
another instrumentor). See docs/agents.md.

Children end before their agent span, so running totals are kept per *open* agent span
(``ProcessState.agent_runs``): :func:`track_agent_start` notes, as each span starts, the
nearest open agent span around it (``ProcessState.agent_links``); :class:`AgentEnricher`
adds each counted call to that agent's totals as the call ends, and puts the totals on the
agent span as it ends (then adds them to the agent around it, if any).

What counts is what the processor counts once (docs/processors.md, "One provider call,
counted once"): an LLM call span marked ``tripwire.duplicate_of`` never reaches the
enrichers, and an agent span's own aggregate ``gen_ai.usage.*`` is never added — only its
children's calls are.

A span is an agent run when its ``gen_ai.operation.name`` is ``invoke_agent`` or
``invoke_workflow``, or — for emitters that set no operation name (pydantic-ai's run span) —
when it is named ``invoke_agent …`` / ``invoke_workflow …`` and carries ``gen_ai.agent.name``
or ``gen_ai.workflow.name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import Event

from tripwire import semconv
from tripwire.processors.base import SpanData, fused_enrich
from tripwire.processors.budget import limit_attributes
from tripwire.processors.state import ProcessState

_NAME_PREFIXES = (semconv.OP_INVOKE_AGENT + " ", semconv.OP_INVOKE_WORKFLOW + " ")


@dataclass(slots=True)
class AgentTally:
    """Running totals of one open agent or workflow span's subtree."""

    enclosing: tuple[int, int] | None  # the open agent span around this one
    llm_calls: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    priced_calls: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_reported: bool = False
    output_reported: bool = False
    # gen_ai.agent.name (or the workflow's name) as the span started: names the run's budget
    # account (ledger.agent_run_keys)
    name: str | None = None
    workflow: bool = False  # an invoke_workflow run (its name is a gen_ai.workflow.name)
    # the first budget of scope ``agent`` this run's calls exceeded (a ledger Crossing)
    budget_exceeded: Any = None
    # (tool, arguments hash) -> executions in this run (tool_loop.py); bounded like the trace's
    tool_repeats: dict[tuple[str, str], int] | None = None
    loop_count: int = 0  # highest repeat count that reached the loop threshold

    def add(self, other: AgentTally) -> None:
        self.llm_calls += other.llm_calls
        self.tool_calls += other.tool_calls
        self.cost_usd += other.cost_usd
        self.priced_calls += other.priced_calls
        self.unpriced_calls += other.unpriced_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.input_reported = self.input_reported or other.input_reported
        self.output_reported = self.output_reported or other.output_reported
        self.loop_count = max(self.loop_count, other.loop_count)


def is_agent_span(name: str, attributes: Any) -> bool:
    """Whether a span with this name and attributes is an agent or workflow run."""
    if not attributes:
        return name.startswith(_NAME_PREFIXES)
    operation = attributes.get(semconv.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return operation in semconv.AGENT_OPERATIONS
    return name.startswith(_NAME_PREFIXES)


def track_agent_start(state: ProcessState, span: Any, ctx: Any) -> None:
    """Called by the processor as each span starts: an agent span opens a tally; a span
    inside one is linked to the nearest open agent span around it."""
    runs = state.agent_runs
    attrs = span.attributes
    name = span.name
    agent = is_agent_span(name, attrs)
    if not agent and not len(runs):
        return  # the fast path: no agent run open in this process
    enclosing = None
    parent = span.parent
    if parent is not None and len(runs):
        key = (parent.trace_id, parent.span_id)
        enclosing = key if runs.get(key) is not None else state.agent_links.get(key)
    own = (ctx.trace_id, ctx.span_id)
    if agent:
        runs.set(own, AgentTally(enclosing, name=_run_name(name, attrs),
                                 workflow=_is_workflow(name, attrs)))
    elif enclosing is not None:
        state.agent_links.set(own, enclosing)


def _run_name(name: str, attrs: Any) -> str | None:
    for key in (semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_WORKFLOW_NAME):
        value = attrs.get(key) if attrs else None
        if isinstance(value, str) and value:
            return value
    _, _, rest = name.partition(" ")
    return rest or None


def _is_workflow(name: str, attrs: Any) -> bool:
    operation = attrs.get(semconv.GEN_AI_OPERATION_NAME) if attrs else None
    if operation is not None:
        return bool(operation == semconv.OP_INVOKE_WORKFLOW)
    return name.startswith(semconv.OP_INVOKE_WORKFLOW + " ")


def open_run(span: SpanData) -> AgentTally | None:
    """The innermost open agent or workflow run around a span (not yet ended by the agents
    enricher, which drops the link), if any."""
    state = span.state
    if not len(state.agent_runs):
        return None  # the fast path: no agent run open in this process
    ctx = span.span.context
    key = state.agent_links.get((ctx.trace_id, ctx.span_id)) if ctx is not None else None
    return state.agent_runs.get(key) if key is not None else None


def run_label(span: SpanData) -> tuple[str, str] | None:
    """``(gen_ai.agent.name, name)`` — or ``(gen_ai.workflow.name, name)`` for a workflow
    run — of the innermost run a span is part of: a metric dimension of its cost. Agent and
    workflow names are code constants, not user data."""
    tally = open_run(span)
    if tally is None or not tally.name:
        return None
    return (semconv.GEN_AI_WORKFLOW_NAME if tally.workflow else semconv.GEN_AI_AGENT_NAME,
            tally.name)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class AgentEnricher:
    name = "agents"

    enrich = fused_enrich

    def enrich_into(self, span: SpanData, added: dict[str, Any], events: list[Event]) -> bool:
        ctx = span.span.context
        if ctx is None:
            return False
        state = span.state
        own = (ctx.trace_id, ctx.span_id)
        if is_agent_span(span.name, span.attributes):
            return self._agent_ended(span, state, own, added)
        if not len(state.agent_runs):
            return False
        agent_key = state.agent_links.pop(own)
        if agent_key is None:
            return False
        tally = state.agent_runs.get(agent_key)
        if tally is None:
            return False
        if span.is_priced_operation:
            cost = span.attributes.get(semconv.TRIPWIRE_COST_USD)
            inp, out = span.input_tokens, span.output_tokens
            with state.agent_runs.lock:
                tally.llm_calls += 1
                if _number(cost):
                    tally.cost_usd += float(cost)  # type: ignore[arg-type]
                    tally.priced_calls += 1
                else:
                    tally.unpriced_calls += 1
                if inp is not None:
                    tally.input_tokens += inp
                    tally.input_reported = True
                if out is not None:
                    tally.output_tokens += out
                    tally.output_reported = True
        elif span.operation == semconv.OP_EXECUTE_TOOL:
            with state.agent_runs.lock:
                tally.tool_calls += 1
        return False

    @staticmethod
    def _agent_ended(span: SpanData, state: ProcessState, own: tuple[int, int],
                     added: dict[str, Any]) -> bool:
        state.agent_links.pop(own)
        tally = state.agent_runs.pop(own)
        attrs = span.attributes
        if attrs.get(semconv.TRIPWIRE_GUARDRAIL_TRIGGERED) is True:
            _count_guardrail(span)
        _count_run(span, tally)
        if tally is None:
            return False
        if tally.enclosing is not None:  # the run around this one includes it
            around = state.agent_runs.get(tally.enclosing)
            if around is not None:
                with state.agent_runs.lock:
                    around.add(tally)
        steps = tally.llm_calls + tally.tool_calls
        added[semconv.TRIPWIRE_AGENT_LLM_CALLS] = tally.llm_calls
        added[semconv.TRIPWIRE_AGENT_TOOL_CALLS] = tally.tool_calls
        added[semconv.TRIPWIRE_AGENT_STEPS] = steps
        if tally.priced_calls:
            added[semconv.TRIPWIRE_AGENT_COST_USD] = tally.cost_usd
        if tally.unpriced_calls:
            added[semconv.TRIPWIRE_AGENT_UNPRICED_CALLS] = tally.unpriced_calls
        if tally.input_reported:
            added[semconv.TRIPWIRE_AGENT_INPUT_TOKENS] = tally.input_tokens
        if tally.output_reported:
            added[semconv.TRIPWIRE_AGENT_OUTPUT_TOKENS] = tally.output_tokens
        limit = span.settings.agent_max_steps
        if limit is not None and steps > limit:
            added[semconv.TRIPWIRE_AGENT_MAX_STEPS_EXCEEDED] = True
        if tally.loop_count:
            added[semconv.TRIPWIRE_AGENT_TOOL_LOOP] = True
            added[semconv.TRIPWIRE_AGENT_TOOL_LOOP_COUNT] = tally.loop_count
        crossing = tally.budget_exceeded
        if crossing is not None:  # this run's own budget (scope agent) was exceeded
            added[semconv.TRIPWIRE_BUDGET_EXCEEDED] = True
            added.update(limit_attributes(crossing))
        return True


def _count_run(span: SpanData, tally: AgentTally | None) -> None:
    """One point of ``tripwire.agent.runs`` per agent or workflow run that ended."""
    attrs: dict[str, Any] = {}
    if span.operation:
        attrs[semconv.GEN_AI_OPERATION_NAME] = span.operation
    for key in (semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_WORKFLOW_NAME):
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            attrs[key] = value
    if semconv.GEN_AI_AGENT_NAME not in attrs and semconv.GEN_AI_WORKFLOW_NAME not in attrs:
        name = tally.name if tally is not None else _run_name(span.name, None)
        if name:
            attrs[semconv.GEN_AI_AGENT_NAME] = name
    error = span.attributes.get(semconv.ERROR_TYPE)
    if isinstance(error, str) and error:
        attrs[semconv.ERROR_TYPE] = error
    if span.feature:
        attrs[semconv.TRIPWIRE_FEATURE] = span.feature
    span.instruments.agent_runs.add(1, attrs)


def _count_guardrail(span: SpanData) -> None:
    """A tripped guardrail counts in ``tripwire.refusals`` (source ``guardrail``)."""
    attrs: dict[str, Any] = {semconv.TRIPWIRE_REFUSAL_SOURCE: semconv.REFUSAL_SOURCE_GUARDRAIL}
    if span.operation:
        attrs[semconv.GEN_AI_OPERATION_NAME] = span.operation
    agent = span.attributes.get(semconv.GEN_AI_AGENT_NAME)
    if isinstance(agent, str) and agent:
        attrs[semconv.GEN_AI_AGENT_NAME] = agent
    if span.feature:
        attrs[semconv.TRIPWIRE_FEATURE] = span.feature
    span.instruments.refusals.add(1, attrs)
