"""E2E workload: GenAI semconv spans and every metric the library emits, exported over OTLP.

    python tests/e2e/workload.py --otlp http://127.0.0.1:4317 --prometheus-port 9464 --rounds 0

Each round is one "support request" trace: a chat call that asks for an unknown tool, an
``execute_tool`` span that loops, an empty retrieval, a streamed answer near the context
limit, a refused call and a failed one. Spans go through ``tripwire.processors.
EnrichingSpanProcessor`` (cost, rollup, budget, refusal, drift, context window, loops) into a
``BatchSpanProcessor`` with the OTLP gRPC exporter; metrics go both to OTLP and to the OTel
SDK Prometheus exporter on ``--prometheus-port`` (scraped by Prometheus in the test).

The gen_ai.* histograms and the retrieval histogram are the library's own instruments
(``tripwire._core``); the tripwire.* counters are the processors' own (recorded by the
enrichers, and once more directly per round so that every dashboard panel has data even for
flags the enrichers cannot derive from synthetic spans). ``--rounds 0`` runs until killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tripwire import semconv as sc
from tripwire._core.telemetry import make_telemetry

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promnames

SERVICE = "tripwire-e2e"
MODEL = "gpt-4o-mini"
SNAPSHOTS = ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2025-01-01")
COMMON = {
    sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_OPENAI,
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: "api.openai.com",
    sc.SERVER_PORT: 443,
}


def enrich(processor: SpanProcessor, meter_provider: MeterProvider) -> SpanProcessor:
    from tripwire.processors import EnrichingSpanProcessor  # ours: a broken import fails

    return EnrichingSpanProcessor(processor, meter_provider=meter_provider)  # type: ignore[no-any-return]


def tripwire_instruments(meter_provider: MeterProvider) -> dict[str, Any]:
    """The tripwire.* instruments: the processors' own, the rest per the table. Our own
    modules are imported plainly: a broken import fails the run instead of faking them."""
    from tripwire._core.operations import make_operation_telemetry
    from tripwire.runtime import get_runtime

    meter = meter_provider.get_meter("tripwire.e2e")
    real = get_runtime().instruments.for_provider(meter_provider)
    out: dict[str, Any] = {
        sc.METRIC_COST: real.cost, sc.METRIC_REFUSALS: real.refusals,
        sc.METRIC_BUDGET_VIOLATIONS: real.budget_violations,
        sc.METRIC_MODEL_CHANGES: real.model_changes,
        sc.METRIC_TOOL_CALL_ERRORS: real.tool_call_errors,
        sc.METRIC_CONTEXT_WINDOW_UTILIZATION: real.context_window_utilization,
        sc.METRIC_AGENT_RUNS: real.agent_runs,
        sc.METRIC_UNPRICED_CALLS: real.unpriced_calls,
    }
    out[sc.METRIC_RETRIEVAL_DOCUMENTS] = make_operation_telemetry(
        "tripwire.e2e", meter_provider=meter_provider).documents
    for name, (kind, unit) in promnames.INSTRUMENTS.items():
        if name in out or name.startswith("gen_ai."):
            continue
        out[name] = (meter.create_counter(name, unit=unit) if kind == promnames.COUNTER
                     else meter.create_histogram(name, unit=unit))
    return out


def tool_error_kind_attribute() -> str:
    name = getattr(sc, "TRIPWIRE_TOOL_CALL_ERROR_KIND", None)
    if name is None:
        from tripwire.processors.metrics import TRIPWIRE_TOOL_CALL_ERROR_KIND as name
    return str(name)


def one_round(tracer: trace.Tracer, tel: Any, inst: dict[str, Any], n: int) -> None:
    snapshot = SNAPSHOTS[n % 2]  # the snapshot behind the floating alias changes every round
    metric_attrs = {sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT, sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_OPENAI,
                    sc.GEN_AI_REQUEST_MODEL: MODEL, sc.GEN_AI_RESPONSE_MODEL: snapshot,
                    sc.SERVER_ADDRESS: "api.openai.com", sc.TRIPWIRE_FEATURE: "support"}

    def inference(name_suffix: str = "", *, stream: bool = False, finish: str = "stop",
                  extra: dict[str, Any] | None = None, error: str | None = None,
                  input_tokens: int = 1200, output_tokens: int = 80,
                  model: str = MODEL) -> None:
        attrs: dict[str, Any] = {**COMMON, sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                                 sc.GEN_AI_REQUEST_MODEL: model}
        if stream:
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        if not error:
            attrs.update({
                sc.GEN_AI_RESPONSE_MODEL: snapshot if model == MODEL else model,
                sc.GEN_AI_RESPONSE_ID: f"chatcmpl-{n}{name_suffix}",
                sc.GEN_AI_RESPONSE_FINISH_REASONS: (finish,),
                sc.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            })
        attrs.update(extra or {})
        with tracer.start_as_current_span(f"{sc.OP_CHAT} {model}", kind=SpanKind.CLIENT,
                                          attributes=attrs) as span:
            m = dict(metric_attrs)
            if error:
                span.set_status(Status(StatusCode.ERROR, error))
                span.set_attribute(sc.ERROR_TYPE, error)
                m.pop(sc.GEN_AI_RESPONSE_MODEL)
                m[sc.ERROR_TYPE] = error
            tel.duration.record(0.05 + 0.01 * (n % 7), m)
            if stream:
                tel.time_to_first_chunk.record(0.02 + 0.005 * (n % 5), m)
            if not error:
                tel.token_usage.record(input_tokens, {**m, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
                tel.token_usage.record(output_tokens, {**m, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})

    with tracer.start_as_current_span("support request", kind=SpanKind.SERVER,
                                      attributes={sc.HTTP_ROUTE: "/support"}):
        inference("a", finish="tool_calls", extra={
            sc.TRIPWIRE_TOOL_CALL_NAMES: ("lookup_order", "delete_account"),
            sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES: ("delete_account",),
        })
        for _ in range(3):  # the same tool with the same arguments 3 times: a loop (threshold 3)
            with tracer.start_as_current_span(
                "execute_tool lookup_order", kind=SpanKind.INTERNAL,
                attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                            sc.GEN_AI_TOOL_NAME: "lookup_order",
                            sc.GEN_AI_TOOL_TYPE: sc.TOOL_TYPE_FUNCTION,
                            sc.TRIPWIRE_TOOL_ARGUMENTS_HASH: "sha256:1234"}):
                pass
        with tracer.start_as_current_span(
            "retrieval faq", kind=SpanKind.CLIENT,
            attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL, sc.GEN_AI_DATA_SOURCE_ID: "faq",
                        sc.GEN_AI_PROVIDER_NAME: "chroma", sc.TRIPWIRE_RETRIEVAL_EMPTY: True,
                        sc.TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT: 0}):
            retrieval_attrs = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL,
                               sc.GEN_AI_DATA_SOURCE_ID: "faq"}
            inst[sc.METRIC_RETRIEVAL_DOCUMENTS].record(0, retrieval_attrs)
            inst[sc.METRIC_RETRIEVAL_DOCUMENTS].record(3, retrieval_attrs)
        inference("b", stream=True, input_tokens=110_000, output_tokens=200)  # 86% of 128k
        inference("c", finish="content_filter", extra={
            sc.TRIPWIRE_REFUSAL: True, sc.TRIPWIRE_REFUSAL_SOURCE: sc.REFUSAL_SOURCE_FINISH_REASON})
        inference("d", error="RateLimitError", extra={sc.TRIPWIRE_RETRY_COUNT: 2})
        # An agent run (its rollup and tripwire.agent.runs) with a call tripwire cannot price
        # (tripwire.unpriced_calls).
        with tracer.start_as_current_span(
                "invoke_agent billing", kind=SpanKind.INTERNAL,
                attributes={sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
                            sc.GEN_AI_AGENT_NAME: "billing"}):
            inference("e", model="gpt-4o")
            inference("f", model="private-model")

    # Direct records: every tripwire.* series exists whatever the enrichers decided.
    inst[sc.METRIC_COST].add(0.0012, metric_attrs)
    inst[sc.METRIC_REFUSALS].add(1, metric_attrs)
    inst[sc.METRIC_BUDGET_VIOLATIONS].add(1, {**metric_attrs, sc.TRIPWIRE_BUDGET_NAME: "e2e"})
    inst[sc.METRIC_MODEL_CHANGES].add(1, metric_attrs)
    inst[sc.METRIC_TOOL_CALL_ERRORS].add(
        1, {**metric_attrs, tool_error_kind_attribute(): sc.TOOL_ERROR_UNKNOWN_TOOL})
    inst[sc.METRIC_CONTEXT_WINDOW_UTILIZATION].record(0.86, metric_attrs)
    inst[sc.METRIC_RETRIES].add(2, metric_attrs)
    inst[sc.METRIC_AGENT_RUNS].add(1, {sc.GEN_AI_AGENT_NAME: "billing"})
    inst[sc.METRIC_UNPRICED_CALLS].add(1, {**metric_attrs, sc.TRIPWIRE_COST_UNPRICED_REASON:
                                           sc.UNPRICED_REASON_UNKNOWN_MODEL})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--otlp", required=True, help="OTLP gRPC endpoint, e.g. http://127.0.0.1:4317")
    parser.add_argument("--prometheus-port", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="0: until SIGTERM")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)

    os.environ.setdefault("TRIPWIRE_BUDGET_TRACE_TOKENS", "100000")  # the budget enricher fires
    resource = Resource.create({sc.SERVICE_NAME: SERVICE, "service.instance.id": "e2e-1"})
    readers: list[Any] = [PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=args.otlp, insecure=True), export_interval_millis=1000)]
    if args.prometheus_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        start_http_server(args.prometheus_port, addr="127.0.0.1")
        readers.append(PrometheusMetricReader())
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    tracer_provider = TracerProvider(resource=resource)
    batch = BatchSpanProcessor(OTLPSpanExporter(endpoint=args.otlp, insecure=True),
                               schedule_delay_millis=200)
    tracer_provider.add_span_processor(enrich(batch, meter_provider))
    tracer = tracer_provider.get_tracer("tripwire.e2e")
    tel = make_telemetry("tripwire.e2e", tracer_provider, meter_provider)
    inst = tripwire_instruments(meter_provider)

    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    n = 0
    while not stop and (args.rounds == 0 or n < args.rounds):
        one_round(tracer, tel, inst, n)
        n += 1
        if n == 1:
            tracer_provider.force_flush()
            meter_provider.force_flush()
            print("FIRST_ROUND_EXPORTED", flush=True)
        time.sleep(args.interval)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    print(f"DONE rounds={n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
