"""Refusal, drift, context window, tool errors/loops; isolation, bounded state, sharing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tripwire import semconv
from tripwire.processors import EnrichingSpanProcessor, default_enrichers
from tripwire.processors.drift import is_floating_alias
from tripwire.processors.state import BoundedTable
from tripwire.runtime import get_runtime

from .conftest import Harness


# --- refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize(("reason", "category"), [
    ("content_filter", None), ("refusal", None), ("SAFETY", "safety"),
    ("guardrail_intervened", "guardrail"), ("content_filtered", None),
])
def test_refusal_from_finish_reason(harness: Harness, reason: str, category: str | None) -> None:
    harness.llm("gpt-4o-mini", **{semconv.GEN_AI_RESPONSE_FINISH_REASONS: (reason,)})
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert attrs[semconv.TRIPWIRE_REFUSAL] is True
    assert attrs[semconv.TRIPWIRE_REFUSAL_SOURCE] == semconv.REFUSAL_SOURCE_FINISH_REASON
    assert attrs.get(semconv.TRIPWIRE_REFUSAL_CATEGORY) == category
    [(point, value)] = harness.points(semconv.METRIC_REFUSALS)
    assert value == 1 and point[semconv.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"


def test_refusal_set_by_instrumentor_is_kept_and_counted(harness: Harness) -> None:
    harness.llm("gpt-4o-mini", **{semconv.TRIPWIRE_REFUSAL: True,
                                  semconv.TRIPWIRE_REFUSAL_SOURCE: "provider_field",
                                  semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",)})
    attrs = harness.span("chat gpt-4o-mini").attributes
    assert attrs[semconv.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    [(point, _)] = harness.points(semconv.METRIC_REFUSALS)
    assert point[semconv.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"


def _output(text: str) -> str:
    return json.dumps([{"role": "assistant", "finish_reason": "stop",
                        "parts": [{"type": "text", "content": text}]}])


def test_refusal_from_captured_text(harness: Harness) -> None:
    harness.llm("gpt-4o-mini", **{semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                                  semconv.GEN_AI_OUTPUT_MESSAGES: _output(
                                      "I'm sorry, but I can't help with that request.")})
    harness.llm("gpt-4o", **{semconv.GEN_AI_OUTPUT_MESSAGES: _output("Sure! Here it is.")})
    assert harness.span("chat gpt-4o-mini").attributes[semconv.TRIPWIRE_REFUSAL_SOURCE] == \
        semconv.REFUSAL_SOURCE_TEXT_PATTERN
    assert semconv.TRIPWIRE_REFUSAL not in harness.span("chat gpt-4o").attributes
    harness.settings(refusal_text_patterns=False)
    harness.llm("o3-mini", **{semconv.GEN_AI_OUTPUT_MESSAGES: _output("I cannot assist.")})
    assert semconv.TRIPWIRE_REFUSAL not in harness.span("chat o3-mini").attributes


# --- drift --------------------------------------------------------------------------------
@pytest.mark.parametrize(("request_model", "response_model", "expected"), [
    ("gpt-4o", "gpt-4o-2024-08-06", True),
    ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", False),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", True),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", False),
    ("gpt-4", "gpt-4-0613", True),
    ("gemini-1.5-pro", "gemini-1.5-pro-002", True),
    ("gemini-2.5-flash", "gemini-2.5-flash", False),
    ("gemini-2.5-flash", "models/gemini-2.5-flash", False),
    ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", False),
    ("llama3", None, None),
])
def test_floating_alias_detection(request_model: str, response_model: str | None,
                                  expected: bool | None) -> None:
    assert is_floating_alias(request_model, response_model) is expected


def test_model_change_behind_alias(harness: Harness) -> None:
    harness.llm("gpt-4o", response_model="gpt-4o-2024-08-06", **{"n": 1})
    harness.llm("gpt-4o", response_model="gpt-4o-2024-08-06", **{"n": 2})
    harness.llm("gpt-4o", response_model="gpt-4o-2024-11-20", **{"n": 3})
    harness.llm("gpt-4o", provider="azure.ai.openai", response_model="gpt-4o-2024-05-13",
                **{"n": 4})  # another provider: its own history
    spans = sorted(harness.spans(), key=lambda s: s.attributes["n"])
    assert [s.attributes.get(semconv.TRIPWIRE_MODEL_CHANGED) for s in spans] == [
        None, False, True, None]
    assert all(s.attributes[semconv.TRIPWIRE_MODEL_FLOATING_ALIAS] for s in spans)
    changed = spans[2]
    assert changed.attributes[semconv.TRIPWIRE_MODEL_PREVIOUS] == "gpt-4o-2024-08-06"
    [ev] = [e for e in changed.events if e.name == semconv.EVENT_MODEL_CHANGED]
    assert ev.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-11-20"
    [(point, value)] = harness.points(semconv.METRIC_MODEL_CHANGES)
    assert value == 1 and point[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-11-20"


# --- context window -----------------------------------------------------------------------
def test_context_window(harness: Harness) -> None:
    harness.llm("gpt-4o", input_tokens=110_000)  # 128k window in genai-prices
    harness.llm("gpt-4o-mini", input_tokens=12_800)
    big = harness.span("chat gpt-4o").attributes
    assert big[semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT] == 128_000
    assert big[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(110_000 / 128_000)
    assert big[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is True
    small = harness.span("chat gpt-4o-mini").attributes
    assert small[semconv.TRIPWIRE_CONTEXT_WINDOW_UTILIZATION] == pytest.approx(0.1)
    assert small[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING] is False
    points = harness.points(semconv.METRIC_CONTEXT_WINDOW_UTILIZATION)
    assert sorted(count for _, (_, count) in points) == [1, 1]
    assert sum(total for _, (total, _) in points) == pytest.approx(110_000 / 128_000 + 0.1)
    harness.settings(context_window_warning=0.05)
    harness.llm("o3-mini", input_tokens=20_000)
    assert harness.span("chat o3-mini").attributes[semconv.TRIPWIRE_CONTEXT_WINDOW_WARNING]


def test_context_window_exemplar_points_at_the_llm_span(harness: Harness) -> None:
    # The processor runs after the span left the context (the harness's spans end outside
    # their `with`): the exemplar must name the LLM span, not the request span around it.
    with harness.tracer.start_as_current_span("POST /chat") as parent:
        harness.llm("gpt-4o", input_tokens=12_800)
    llm = harness.span("chat gpt-4o")
    data = harness.reader.get_metrics_data()
    exemplars = [e for rm in data.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics if m.name == semconv.METRIC_CONTEXT_WINDOW_UTILIZATION
                 for p in m.data.data_points for e in p.exemplars]
    assert [e.span_id for e in exemplars] == [llm.context.span_id]
    assert llm.context.span_id != parent.get_span_context().span_id
    assert exemplars[0].value == pytest.approx(0.1)


def test_no_context_window_for_unknown_models(harness: Harness) -> None:
    harness.llm("mystery-model")
    assert semconv.TRIPWIRE_CONTEXT_WINDOW_LIMIT not in harness.span(
        "chat mystery-model").attributes


# --- tool calls ---------------------------------------------------------------------------
def _tool(harness: Harness, name: str, args_hash: str | None = None, *,
          arguments: str | None = None, error: str | None = None) -> None:
    attrs = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
             semconv.GEN_AI_TOOL_NAME: name}
    if args_hash:
        attrs[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] = args_hash
    if arguments:
        attrs[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments
    if error:
        attrs[semconv.ERROR_TYPE] = error
    with harness.tracer.start_as_current_span(f"execute_tool {name}", attributes=attrs):
        pass


def test_tool_loop_and_errors(harness: Harness) -> None:
    with harness.tracer.start_as_current_span("agent"):
        harness.llm("gpt-4o", **{semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES: ("made_up",),
                                 semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS: ("search",)})
        for _ in range(4):
            _tool(harness, "search", "abc")
        _tool(harness, "search", "other")
        # foreign instrumentor: no hash, captured arguments in any key order
        _tool(harness, "lookup", arguments='{"a": 1, "b": 2}')
        _tool(harness, "lookup", arguments='{"b": 2, "a": 1}')
        _tool(harness, "lookup", arguments='{"a":1,"b":2}')
        _tool(harness, "fetch", "x", error="TimeoutError")
    search = [s for s in harness.spans() if s.name == "execute_tool search"]
    flags = [(s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP),
              s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP_COUNT)) for s in search]
    assert flags == [(None, None), (None, None), (True, 3), (True, 4), (None, None)]
    assert [e.name for e in search[2].events] == [semconv.EVENT_TOOL_LOOP]
    assert search[3].events == ()
    lookups = [s for s in harness.spans() if s.name == "execute_tool lookup"]
    assert lookups[2].attributes[semconv.TRIPWIRE_TOOL_LOOP] is True
    kinds = {}
    for attrs, value in harness.points(semconv.METRIC_TOOL_CALL_ERRORS):
        key = (attrs[semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND], attrs.get(semconv.GEN_AI_TOOL_NAME))
        kinds[key] = value
    assert kinds == {("unknown_tool", None): 1, ("invalid_arguments", "search"): 1,
                     ("loop", "search"): 1, ("loop", "lookup"): 1,
                     ("execution_error", "fetch"): 1}


# --- robustness ---------------------------------------------------------------------------
class _Broken:
    name = "broken"

    def enrich(self, span):
        raise RuntimeError("boom")


def test_enricher_exception_is_isolated(harness: Harness, caplog) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(
        SimpleSpanProcessor(exporter), enrichers=[_Broken(), *default_enrichers()]))
    with caplog.at_level(logging.WARNING, logger="tripwire"):
        for _ in range(3):
            with provider.get_tracer("t").start_as_current_span("chat gpt-4o", attributes={
                    semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10,
                    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 1}):
                pass
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert all(semconv.TRIPWIRE_COST_USD in s.attributes for s in spans)  # others still ran
    assert len([r for r in caplog.records if "broken" in r.getMessage()]) == 1  # logged once


def test_processor_failure_still_exports_original(harness: Harness, monkeypatch) -> None:
    from tripwire.processors import processor as module

    monkeypatch.setattr(module, "_rebuild", lambda span, added: 1 / 0)
    harness.llm("gpt-4o")
    [span] = harness.spans()
    assert semconv.TRIPWIRE_COST_USD not in span.attributes
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"


def test_rebuilt_span_keeps_every_field(harness: Harness) -> None:
    tracer = harness.tracer
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"k": "v"})
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, links=[link],
                                          attributes={semconv.GEN_AI_OPERATION_NAME: "chat",
                                                      semconv.GEN_AI_PROVIDER_NAME: "openai",
                                                      semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
                                                      semconv.GEN_AI_USAGE_INPUT_TOKENS: 5}) as s:
            s.add_event("my.event", {"a": 1})
            s.set_status(Status(StatusCode.ERROR, "bad"))
            original_ctx = s.get_span_context()
    span = harness.span("chat gpt-4o")
    assert span.context == original_ctx
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "bad"
    assert [e.name for e in span.events] == ["my.event"]
    assert span.links[0].attributes == {"k": "v"}
    assert span.instrumentation_scope.name == "foreign.instrumentor"
    assert span.resource == harness.provider.resource
    assert span.start_time and span.end_time and span.end_time >= span.start_time
    assert semconv.TRIPWIRE_COST_USD in span.attributes


def test_two_exporters_count_once(harness: Harness) -> None:
    second = InMemorySpanExporter()
    harness.provider.add_span_processor(EnrichingSpanProcessor(
        SimpleSpanProcessor(second), meter_provider=harness.meter_provider))
    harness.settings(budget_trace_usd=0.005)
    with harness.tracer.start_as_current_span("req"):
        harness.llm("gpt-4o")
        harness.llm("gpt-4o")
    for exporter in (harness.exporter, second):
        root = next(s for s in exporter.get_finished_spans() if s.name == "req")
        assert root.attributes[semconv.TRIPWIRE_TRACE_LLM_CALLS] == 2
    [(_, cost)] = harness.points(semconv.METRIC_COST)
    assert cost == pytest.approx(0.007)
    [(_, violations)] = harness.points(semconv.METRIC_BUDGET_VIOLATIONS)
    assert violations == 1


def test_bounded_table_size_and_age(monkeypatch) -> None:
    from tripwire.processors import state as state_module

    now = [0.0]
    monkeypatch.setattr(state_module, "_clock", lambda: now[0])
    table: BoundedTable[int, int] = BoundedTable(max_entries=3, ttl_seconds=10)
    for i in range(5):
        table.set(i, i)
    assert len(table) == 3 and table.get(0) is None and table.get(4) == 4
    table.get(2)  # touch: 3 is now the least recently used
    table.set(5, 5)
    assert table.get(3) is None and table.get(2) == 2
    now[0] = 11.0
    assert table.get(2) is None
    table.set(6, 6)
    assert len(table) == 1


def test_state_bounded_beyond_max_entries(harness: Harness) -> None:
    harness.settings(state_max_entries=50)
    for i in range(200):  # 200 traces with roots that never end here, 200 drift keys
        root = harness.tracer.start_span(f"root {i}")
        harness.llm(f"gpt-4o-{i}", response_model=f"gpt-4o-{i}-2024-08-06")
        del root
    state = get_runtime().state
    assert len(state.traces) <= 50
    assert len(state.drift) <= 50
    assert len(state.processed) <= 50
    harness.llm("gpt-4o")  # still works
    assert semconv.TRIPWIRE_COST_USD in harness.spans()[-1].attributes


def test_repeating_tool_call_survives_the_per_trace_bound(harness: Harness) -> None:
    """With the trace's tool-call table full, the call that keeps repeating is not the one
    forgotten: it is still counted up to the loop threshold."""
    from tripwire.runtime import replace_settings

    replace_settings(state_max_entries=3)
    with harness.tracer.start_as_current_span("agent"):
        _tool(harness, "search", "same")
        for i in range(4):  # two other calls between repeats: the table (3) overflows
            _tool(harness, "fetch", f"page-{i}")
            if i % 2 == 1:
                _tool(harness, "search", "same")
    search = [s for s in harness.spans() if s.name == "execute_tool search"]
    assert [s.attributes.get(semconv.TRIPWIRE_TOOL_LOOP_COUNT) for s in search] == [None, None, 3]


# --- spans whose attributes are not the SDK's own mapping ----------------------------------
class _PlainMapping(Mapping):  # a foreign container: no copy(), reads only
    def __init__(self, data: dict) -> None:
        self._data = data

    def __getitem__(self, key: str) -> object:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@pytest.mark.parametrize("wrap", [dict, _PlainMapping], ids=["dict", "mapping-without-copy"])
def test_spans_with_any_attribute_mapping_are_enriched(harness: Harness, wrap: type) -> None:
    # The processor copies attributes with the view's copy(); a snapshot whose mapping has
    # none must still be enriched, with its own attributes kept.
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    out = InMemorySpanExporter()
    processor = EnrichingSpanProcessor(SimpleSpanProcessor(out),
                                       meter_provider=harness.meter_provider)
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
             semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
             "app.custom": "kept"}
    root = SpanContext(0xABC, 1, False, TraceFlags(TraceFlags.SAMPLED))
    span = ReadableSpan(name="chat gpt-4o-mini",
                        context=SpanContext(0xABC, 2, False, TraceFlags(TraceFlags.SAMPLED)),
                        parent=root, attributes=wrap(attrs), kind=SpanKind.CLIENT,
                        start_time=1, end_time=2)
    processor.on_end(span)
    (enriched,) = out.get_finished_spans()
    assert enriched.attributes["app.custom"] == "kept"
    assert enriched.attributes[semconv.TRIPWIRE_COST_USD] == pytest.approx(
        (1000 * 0.15 + 100 * 0.6) / 1e6)
