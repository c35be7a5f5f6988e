"""A span exporter that prints each finished trace as a readable tree (demos, local dev).

Spans are buffered per trace and printed when the trace's local root ends, with names,
durations, tokens, cost and every ``tripwire.*`` flag — not raw JSON.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from tripwire import semconv

_MAX_TRACES = 256


def _fmt_duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "?"
    seconds = (span.end_time - span.start_time) / 1e9
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _budget(span: ReadableSpan, a: dict[str, Any]) -> str:
    """``name, limit $X[, spent $Y]`` (spent is on the crossing's event, when this span has it)."""
    parts = [str(a.get(semconv.TRIPWIRE_BUDGET_NAME, "?"))]
    spent: dict[str, Any] = {}
    for ev in span.events or ():
        if ev.name == semconv.EVENT_BUDGET_EXCEEDED:
            spent = dict(ev.attributes or {})
    for limit_key, spent_key, fmt in (
        (semconv.TRIPWIRE_BUDGET_LIMIT_USD, semconv.TRIPWIRE_BUDGET_SPENT_USD, "${:.6f}"),
        (semconv.TRIPWIRE_BUDGET_LIMIT_TOKENS, semconv.TRIPWIRE_BUDGET_SPENT_TOKENS, "{} tokens"),
    ):
        if limit_key in a:
            text = "limit " + fmt.format(a[limit_key])
            if spent_key in spent:
                text += ", spent " + fmt.format(spent[spent_key])
            parts.append(text)
    return ", ".join(parts)


def describe(span: ReadableSpan) -> str:
    """One line: name, duration, then the facts that matter."""
    a: dict[str, Any] = dict(span.attributes or {})
    facts: list[str] = []
    if semconv.GEN_AI_RESPONSE_MODEL in a:
        # "requested → served": shows which snapshot a floating alias resolved to.
        requested = a.get(semconv.GEN_AI_REQUEST_MODEL)
        served = a[semconv.GEN_AI_RESPONSE_MODEL]
        resolved = f"{requested} → " if requested and requested != served else ""
        facts.append(f"model={resolved}{served}")
    if semconv.GEN_AI_USAGE_INPUT_TOKENS in a or semconv.GEN_AI_USAGE_OUTPUT_TOKENS in a:
        est = " (estimated)" if a.get(semconv.TRIPWIRE_USAGE_ESTIMATED) else ""
        facts.append(f"tokens in={a.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, '?')} "
                     f"out={a.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, '?')}{est}")
    if semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in a:
        facts.append(f"first chunk {a[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] * 1000:.0f} ms")
    if semconv.TRIPWIRE_COST_USD in a:
        facts.append(f"cost ${a[semconv.TRIPWIRE_COST_USD]:.6f}")
    if a.get(semconv.TRIPWIRE_COST_UNPRICED):
        facts.append("cost UNPRICED")
    if semconv.TRIPWIRE_TRACE_COST_USD in a:
        facts.append(f"request total ${a[semconv.TRIPWIRE_TRACE_COST_USD]:.6f} over "
                     f"{_plural(a.get(semconv.TRIPWIRE_TRACE_LLM_CALLS, 0), 'LLM call')}, "
                     f"{a.get(semconv.TRIPWIRE_TRACE_INPUT_TOKENS, 0)} in / "
                     f"{a.get(semconv.TRIPWIRE_TRACE_OUTPUT_TOKENS, 0)} out tokens")
    if semconv.TRIPWIRE_AGENT_STEPS in a:  # an agent or workflow run's rollup
        cost = a.get(semconv.TRIPWIRE_AGENT_COST_USD)
        facts.append((f"run cost ${cost:.6f}" if cost is not None else "run cost ?")
                     + f" · {_plural(a[semconv.TRIPWIRE_AGENT_STEPS], 'step')} ("
                     f"{_plural(a.get(semconv.TRIPWIRE_AGENT_LLM_CALLS, 0), 'LLM call')}, "
                     f"{_plural(a.get(semconv.TRIPWIRE_AGENT_TOOL_CALLS, 0), 'tool call')})")
    if semconv.TRIPWIRE_AGENT_SUPERSTEPS in a:
        facts.append(_plural(a[semconv.TRIPWIRE_AGENT_SUPERSTEPS], "superstep"))
    if semconv.TRIPWIRE_TOOL_CALL_NAMES in a:
        facts.append("asked for tools " + ",".join(a[semconv.TRIPWIRE_TOOL_CALL_NAMES]))
    if semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT in a:
        facts.append(_plural(a[semconv.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT], "document"))
    flags: list[str] = []
    if a.get(semconv.TRIPWIRE_REFUSAL):
        flags.append(f"REFUSAL ({a.get(semconv.TRIPWIRE_REFUSAL_SOURCE, '?')})")
    if a.get(semconv.TRIPWIRE_RETRY_COUNT):
        flags.append(f"RETRIED x{a[semconv.TRIPWIRE_RETRY_COUNT]}")
    if a.get(semconv.TRIPWIRE_BUDGET_EXCEEDED):
        flags.append(f"BUDGET EXCEEDED ({_budget(span, a)})")
    if a.get(semconv.TRIPWIRE_BUDGET_WARNING):
        flags.append("budget warning")
    if a.get(semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING):
        flags.append(f"CONTEXT {a.get(semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION, 0):.0%} FULL")
    if a.get(semconv.TRIPWIRE_MODEL_CHANGED):
        flags.append("MODEL SNAPSHOT CHANGED")
    for key, label in (
        (semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES, "UNKNOWN TOOL"),
        (semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS, "INVALID TOOL ARGS"),
    ):
        if a.get(key):
            flags.append(f"{label} " + ",".join(a[key]))
    if a.get(semconv.TRIPWIRE_TOOL_LOOP):
        flags.append("TOOL LOOP")
    if a.get(semconv.TRIPWIRE_AGENT_TOOL_LOOP):
        flags.append(f"TOOL LOOP IN RUN (x{a.get(semconv.TRIPWIRE_AGENT_TOOL_LOOP_COUNT, '?')})")
    if a.get(semconv.TRIPWIRE_AGENT_MAX_STEPS_EXCEEDED):
        flags.append("MAX STEPS EXCEEDED")
    if a.get(semconv.TRIPWIRE_AGENT_RECURSION_LIMIT_REACHED):
        flags.append("RECURSION LIMIT REACHED")
    if a.get(semconv.TRIPWIRE_GUARDRAIL_TRIGGERED):
        flags.append(f"GUARDRAIL {a.get(semconv.TRIPWIRE_GUARDRAIL_NAME, '')}".rstrip())
    if a.get(semconv.TRIPWIRE_RETRIEVAL_EMPTY):
        flags.append("EMPTY RETRIEVAL")
    if a.get(semconv.TRIPWIRE_RETRIEVAL_LOW_RELEVANCE):
        flags.append("LOW RELEVANCE")
    if span.status.status_code is StatusCode.ERROR:
        flags.append(f"ERROR {a.get(semconv.ERROR_TYPE, '')}".rstrip())
    line = f"{span.name}  {_fmt_duration(span)}"
    if facts:
        line += "  · " + " · ".join(facts)
    if flags:
        line += "  ⚠ " + " ⚠ ".join(flags)
    return line


class TraceTreeExporter(SpanExporter):
    """Print finished traces as trees to ``stream`` (default stdout).

    Also the span exporter ``tripwire_console`` (entry point ``opentelemetry_traces_exporter``):
    ``OTEL_TRACES_EXPORTER=tripwire_console``; the SDK's configurator calls it without
    arguments."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id if span.context else 0
                self._pending.setdefault(trace_id, []).append(span)
                if span.parent is None or span.parent.is_remote:
                    ready.append(self._pending.pop(trace_id))
            while len(self._pending) > _MAX_TRACES:
                self._pending.popitem(last=False)
        for trace_spans in ready:
            self._print(trace_spans)
        return SpanExportResult.SUCCESS

    def _print(self, spans: list[ReadableSpan]) -> None:
        by_parent: dict[int | None, list[ReadableSpan]] = {}
        ids = {s.context.span_id for s in spans if s.context}
        for span in spans:
            parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
            by_parent.setdefault(parent, []).append(span)
        lines: list[str] = []

        def walk(span: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
            branch = "" if root else ("└─ " if last else "├─ ")
            lines.append(prefix + branch + describe(span))
            children = sorted(by_parent.get(span.context.span_id if span.context else 0, []),
                              key=lambda s: s.start_time or 0)
            child_prefix = prefix if root else prefix + ("   " if last else "│  ")
            for i, child in enumerate(children):
                walk(child, child_prefix, i == len(children) - 1, False)

        for root in sorted(by_parent.get(None, []), key=lambda s: s.start_time or 0):
            walk(root, "", True, True)
        out = self._stream or sys.stdout
        out.write("\n".join(lines) + "\n\n")
        out.flush()

    def shutdown(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for spans in pending:
            self._print(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
