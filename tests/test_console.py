"""The console trace tree (``tripwire.console.TraceTreeExporter``) reads right."""

from __future__ import annotations

import io

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tripwire import semconv as sc
from tripwire.console import TraceTreeExporter


def _tree(build) -> str:
    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TraceTreeExporter(out)))
    build(provider.get_tracer("test"))
    provider.shutdown()
    return out.getvalue()


def test_request_total_counts_llm_calls_in_singular_and_plural() -> None:
    def build(tracer):
        for calls in (1, 2):
            with tracer.start_as_current_span("request", attributes={
                sc.TRIPWIRE_TRACE_COST_USD: 0.001, sc.TRIPWIRE_TRACE_LLM_CALLS: calls,
                sc.TRIPWIRE_TRACE_INPUT_TOKENS: 10, sc.TRIPWIRE_TRACE_OUTPUT_TOKENS: 5}):
                pass

    lines = _tree(build).split("\n\n")
    assert "request total $0.001000 over 1 LLM call, 10 in / 5 out tokens" in lines[0]
    assert "over 2 LLM calls," in lines[1]


def test_retrieval_counts_documents_in_singular_and_plural() -> None:
    def build(tracer):
        for count in (1, 3):
            with tracer.start_as_current_span("retrieval faq", attributes={
                sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: count}):
                pass

    one, three = _tree(build).strip().split("\n\n")
    assert one.endswith("· 1 document") and three.endswith("· 3 documents")


def test_model_shows_the_requested_alias_then_the_snapshot_it_resolved_to() -> None:
    def build(tracer):
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                sc.TRIPWIRE_MODEL_FLOATING_ALIAS: True}):
                pass
            with tracer.start_as_current_span("chat gpt-4o-2024-08-06", attributes={
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-2024-08-06",
                sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"}):
                pass

    _, alias, dated = _tree(build).strip().splitlines()
    assert alias.endswith("· model=gpt-4o-mini → gpt-4o-mini-2024-07-18")
    assert dated.endswith("· model=gpt-4o-2024-08-06")


def test_budget_exceeded_shows_the_limit_and_what_was_spent() -> None:
    def build(tracer):
        with tracer.start_as_current_span("request", attributes={
            sc.TRIPWIRE_BUDGET_EXCEEDED: True, sc.TRIPWIRE_BUDGET_NAME: "per-request",
            sc.TRIPWIRE_BUDGET_LIMIT_USD: 0.00006}):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                sc.TRIPWIRE_BUDGET_EXCEEDED: True, sc.TRIPWIRE_BUDGET_NAME: "per-request",
                sc.TRIPWIRE_BUDGET_LIMIT_USD: 0.00006}) as span:
                span.add_event(sc.EVENT_BUDGET_EXCEEDED, {
                    sc.TRIPWIRE_BUDGET_NAME: "per-request", sc.TRIPWIRE_BUDGET_SPENT_USD: 0.000084})
            with tracer.start_as_current_span("chat tokens", attributes={
                sc.TRIPWIRE_BUDGET_EXCEEDED: True, sc.TRIPWIRE_BUDGET_NAME: "tokens",
                sc.TRIPWIRE_BUDGET_LIMIT_TOKENS: 100}):
                pass

    root, crossing, tokens = _tree(build).strip().splitlines()
    assert root.endswith("⚠ BUDGET EXCEEDED (per-request, limit $0.000060)")
    assert crossing.endswith("⚠ BUDGET EXCEEDED (per-request, limit $0.000060, spent $0.000084)")
    assert tokens.endswith("⚠ BUDGET EXCEEDED (tokens, limit 100 tokens)")
