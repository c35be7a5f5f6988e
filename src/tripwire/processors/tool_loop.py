"""Tool-call errors: unknown tools and invalid arguments the model asked for, failed tool
executions, and loops (same tool + arguments repeated within a trace, and within an agent run).

A loop is counted twice over: per trace (``TraceRecord.tool_calls``: the flag, event and
metric, as before agents were tracked) and per agent run (the innermost open
``invoke_agent`` / ``invoke_workflow`` span around the tool, ``AgentTally.tool_repeats``): the
tool span then also carries ``tripwire.tool.loop.run_count``, the loop's event and metric the
run's ``gen_ai.agent.name``, and the run's span ``tripwire.agent.tool_loop``. A long-lived
trace in which separate runs make the same call is flagged per trace, not per run."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core.tools import arguments_hash
from tripwire.processors.agents import open_run
from tripwire.processors.base import Enrichment, SpanData, event
from tripwire.processors.state import TraceRecord


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


_MODEL_KEYS = (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL,
               semconv.GEN_AI_RESPONSE_MODEL)


def _add_requesting_model(attrs: dict[str, Any], record: TraceRecord | None) -> None:
    """Execution errors and loops are recorded on ``execute_tool`` spans, which rarely carry
    a model: label them with the model that asked for the tool (the last inference span that
    ended in the trace), so dashboards and alerts filtering by provider or model keep them.
    The span's own values win."""
    last = record.last_model if record is not None else None
    if last is None:
        return
    for key, value in zip(_MODEL_KEYS, last):
        if value and key not in attrs:
            attrs[key] = value


def _repeat(calls: dict[tuple[str, str], int], call: tuple[str, str], limit: int) -> int:
    """Count one more execution of ``call``; the caller holds the table's lock."""
    # Popped and re-inserted: the dict stays in least-recently-seen order, so a call that
    # keeps repeating is never the one forgotten.
    count = calls.pop(call, 0) + 1
    if count == 1 and len(calls) >= limit:
        # One long-lived trace or run (an agent running for hours) is bounded too: forget
        # the tool call seen least recently.
        del calls[next(iter(calls))]
    calls[call] = count
    return count


class ToolLoopEnricher:
    name = "tool_loop"

    def enrich(self, span: SpanData) -> Enrichment | None:
        if span.is_inference:
            record = span.record
            if record is not None:
                # The tools executed next in this trace were asked for by this model.
                record.last_model = (span.provider, span.request_model, span.response_model)
            self._requested(span)
            return None
        if span.operation != semconv.OP_EXECUTE_TOOL:
            return None
        attrs = span.attributes
        tool = attrs.get(semconv.GEN_AI_TOOL_NAME)
        tool = tool if isinstance(tool, str) and tool else None
        if attrs.get(semconv.ERROR_TYPE):
            self._count(span, semconv.TOOL_ERROR_EXECUTION, tool)
        args_hash = attrs.get(semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH)
        if not isinstance(args_hash, str):  # foreign instrumentor with captured arguments
            raw = attrs.get(semconv.GEN_AI_TOOL_CALL_ARGUMENTS)
            args_hash = arguments_hash(raw) if isinstance(raw, str) else None
        record = span.record
        if not tool or not isinstance(args_hash, str) or record is None:
            return None
        call = (tool, args_hash)
        limit = span.settings.state_max_entries
        with span.state.traces.lock:
            count = _repeat(record.tool_calls, call, limit)
        threshold = span.settings.tool_loop_threshold
        run = open_run(span)
        run_count = 0
        if run is not None:
            with span.state.agent_runs.lock:
                if run.tool_repeats is None:
                    run.tool_repeats = {}
                run_count = _repeat(run.tool_repeats, call, limit)
                if run_count >= threshold:
                    run.loop_count = max(run.loop_count, run_count)
        if count < threshold:
            return None
        out: dict[str, Any] = {semconv.TRIPWIRE_TOOL_LOOP: True,
                               semconv.TRIPWIRE_TOOL_LOOP_COUNT: count}
        if run_count >= threshold:
            out[semconv.TRIPWIRE_TOOL_LOOP_RUN_COUNT] = run_count
        agent = run.name if run is not None else None
        events = []
        if count == threshold:  # once per loop, when it is detected
            self._count(span, semconv.TOOL_ERROR_LOOP, tool, agent)
            found: dict[str, Any] = {semconv.GEN_AI_TOOL_NAME: tool,
                                     semconv.TRIPWIRE_TOOL_LOOP_COUNT: count}
            if agent:
                found[semconv.GEN_AI_AGENT_NAME] = agent
            events.append(event(semconv.EVENT_TOOL_LOOP, span.end_time, found))
        return Enrichment(out, events)

    def _requested(self, span: SpanData) -> None:
        attrs = span.attributes
        if (semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in attrs
                and semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in attrs):
            return  # the common case: nothing to count
        for name in _names(attrs.get(semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES)):
            del name  # made up by the model: never a metric dimension
            self._count(span, semconv.TOOL_ERROR_UNKNOWN_TOOL, None)
        for name in _names(attrs.get(semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS)):
            self._count(span, semconv.TOOL_ERROR_INVALID_ARGUMENTS, name)

    @staticmethod
    def _count(span: SpanData, kind: str, tool: str | None, agent: str | None = None) -> None:
        attrs = span.metric_attributes()
        if not span.is_inference:
            _add_requesting_model(attrs, span.record)
        attrs[semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND] = kind
        if tool:
            attrs[semconv.GEN_AI_TOOL_NAME] = tool
        if agent:  # a code constant, like the tool's name: low cardinality
            attrs[semconv.GEN_AI_AGENT_NAME] = agent
        span.instruments.tool_call_errors.add(1, attrs)
