"""What the OpenTelemetry SDK charges and what the ``EnrichingSpanProcessor`` costs.

``run_enrichment`` (section ``enrichment``): the processor alone, µs per GenAI span and spans
per second, and through an SDK ``TracerProvider``.

``sdk_share_op``: the SDK work one instrumented call asks for (with enrichment, also the
processor's), replayed without our code; the ``sdk-share`` rows of the ``isolated`` section.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from harness import NullProcessor, Wrap, fmt, providers, stats, timer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "o3-mini", "claude-sonnet-4-5", "gemini-2.5-pro")
RESOURCE = Resource.create({"service.name": "bench"})


# --- ended spans --------------------------------------------------------------------------
def genai_attrs(model: str, provider: str = "openai") -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
            "gen_ai.request.model": model, "gen_ai.response.model": model + "-2025-01-01",
            "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80,
            "gen_ai.response.finish_reasons": ("stop",), "server.address": "api.openai.com",
            "server.port": 443, "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 256}


def chat_trace(trace_no: int, models: list[str] | tuple[str, ...],
               extra: Callable[[dict[str, Any], int], None] | None = None) -> list[Any]:
    """A local root (first) and three chat spans of one trace, as ended ReadableSpans."""
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    sampled = TraceFlags(TraceFlags.SAMPLED)
    trace_id = (trace_no << 64) | 0xABCDEF
    now = time.time_ns()
    root_ctx = SpanContext(trace_id, 1, False, sampled)
    out = [ReadableSpan(name="POST /chat", context=root_ctx, parent=None,
                        attributes={"http.route": "/chat"}, kind=SpanKind.SERVER,
                        start_time=now, end_time=now + 5000, resource=RESOURCE)]
    for i in range(3):
        model = models[(trace_no * 3 + i) % len(models)]
        attrs = genai_attrs(model)
        if extra is not None:
            extra(attrs, trace_no)
        out.append(ReadableSpan(name="chat " + model,
                                context=SpanContext(trace_id, 2 + i, False, sampled),
                                parent=root_ctx, attributes=attrs, kind=SpanKind.CLIENT,
                                start_time=now, end_time=now + 1000, resource=RESOURCE))
    return out


def feed(proc: Any, trace: list[Any]) -> None:
    """The root's ``on_start``, every other span's ``on_end``, the root's ``on_end`` last."""
    root = trace[0]
    proc.on_start(root, None)
    for span in trace[1:]:
        proc.on_end(span)
    proc.on_end(root)


# --- the processor alone ------------------------------------------------------------------
def run_enrichment(rounds: int, spans: int) -> dict[str, Any]:
    """(1) The processor alone: ``on_start``/``on_end`` of ended spans fed straight in (a
    local root + 3 chat spans per trace, distinct traces), per span, downstream a no-op.
    (2) Through an SDK TracerProvider: chat spans with and without the processor."""
    from tripwire.processors import EnrichingSpanProcessor

    clock = timer()
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    out: dict[str, Any] = {}
    proc = EnrichingSpanProcessor(NullProcessor(), meter_provider=meter)
    empty = chat_trace(0, MODELS)  # the same spans with the processor's work skipped
    alone, alone_plain = [], []
    traces = spans // 4
    for r in range(rounds):
        batch = [chat_trace(r * traces + i + 1, MODELS) for i in range(traces)]
        for trace in batch[:20]:
            feed(proc, trace)
        gc.collect()
        start = clock()
        for trace in batch[20:]:
            feed(proc, trace)
        alone.append((clock() - start) / ((traces - 20) * 4) * 1e6)
        plain = [[ReadableSpan(name=s.name, context=s.context, parent=s.parent,
                               attributes={"http.request.method": "GET"}, kind=s.kind,
                               start_time=s.start_time, end_time=s.end_time)
                  for s in empty[1:]]] * traces
        start = clock()
        for trace in plain:
            for span in trace:
                proc.on_start(span, None)
                proc.on_end(span)
        alone_plain.append((clock() - start) / (traces * 3) * 1e6)
    proc.shutdown()
    med = statistics.median(alone)
    out["processor_alone"] = {"us_per_span": stats(alone), "spans_per_s": round(1e6 / med),
                              "plain_span_us": stats(alone_plain)}
    del proc
    gc.collect()

    attrs = [genai_attrs(m) for m in MODELS]

    def make(wrap: bool) -> Any:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(
            EnrichingSpanProcessor(NullProcessor(), meter_provider=meter) if wrap
            else NullProcessor())
        return provider.get_tracer("bench")

    tracers = {"base": make(False), "enriched": make(True)}

    def block(tracer: Any) -> float:
        with tracer.start_as_current_span("request"):
            for i in range(50):
                tracer.start_span("warm", attributes=attrs[i % len(attrs)]).end()
            gc.collect()
            start = clock()
            for i in range(spans):
                tracer.start_span("chat", attributes=attrs[i % 6]).end()
            return (clock() - start) / spans * 1e6

    base, enriched, added = [], [], []
    for _ in range(rounds):
        b = block(tracers["base"])
        e = block(tracers["enriched"])
        base.append(b)
        enriched.append(e)
        added.append(e - b)
    out["through_sdk"] = {"sdk_span_us": stats(base), "enriched_span_us": stats(enriched),
                          "added_us": stats(added)}
    return out


def print_enrichment(result: dict[str, Any]) -> None:
    alone, sdk = result["processor_alone"], result["through_sdk"]
    print("\n== EnrichingSpanProcessor alone (µs per span, median, p10…p90)")
    print(f"processor alone, ended spans fed to on_start/on_end (root + 3 chat spans per trace): "
          f"{fmt(alone['us_per_span'])} µs/span → {alone['spans_per_s']:,} spans/s; "
          f"non-GenAI pass-through {fmt(alone['plain_span_us'], 2)} µs/span")
    print(f"through an SDK provider, chat span: SDK alone {fmt(sdk['sdk_span_us'])}, with the "
          f"processor {fmt(sdk['enriched_span_us'])}, added {fmt(sdk['added_us'])} µs/span")


# --- the SDK's share of an instrumented call ----------------------------------------------
class _Capture(SpanProcessor):
    """Keeps each span's attributes at start and its ended form."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append(dict(span.attributes))

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class _Rebuilding(SpanProcessor):
    """What enrichment asks of the SDK, without our code: one context-window histogram point
    and a copy of the ended span with the additions merged (public constructor), passed on."""

    def __init__(self, next_processor: SpanProcessor, hist: Any,
                 point: tuple[float, dict[str, Any]] | None, added: dict[str, Any]) -> None:
        self.next, self.hist, self.point, self.added = next_processor, hist, point, added

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.next.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.point is not None:  # embeddings have no context window
            value, attrs = self.point
            self.hist.record(value, attrs, context=set_span_in_context(
                NonRecordingSpan(span.context)))  # type: ignore[arg-type]
        merged = {**span.attributes.copy(), **self.added}  # type: ignore[union-attr]
        self.next.on_end(ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes=MappingProxyType(merged), events=span.events, links=span.links,
            kind=span.kind, status=span.status, start_time=span.start_time,
            end_time=span.end_time, instrumentation_scope=span.instrumentation_scope))

    def shutdown(self) -> None:
        self.next.shutdown()


def _capture(wrapper_call: Callable[[Any, Any], Any], enrich: bool
             ) -> tuple[dict[str, Any], ReadableSpan, list[tuple[str, float, dict[str, Any]]]]:
    """One call through our wrapper: its span's attributes at start, the ended span, and its
    histogram points (name, value, attributes). The processor's counters are observable
    (no SDK work per span) and left out."""
    from tripwire.processors import EnrichingSpanProcessor

    spans = _Capture()
    tp = TracerProvider(shutdown_on_exit=False)
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    tp.add_span_processor(EnrichingSpanProcessor(spans, meter_provider=mp) if enrich else spans)
    wrapper_call(tp, mp)
    tp.shutdown()
    points = []
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for dp in metric.data.data_points:
                    if isinstance(dp, HistogramDataPoint):
                        points.append((metric.name, dp.sum, dict(dp.attributes or {})))
    return spans.started[-1], spans.ended[-1], points


def sdk_share_op(wrapper_call: Callable[[Any, Any], Any], enrich: bool
                 ) -> tuple[Callable[[], None], TracerProvider]:
    """The OpenTelemetry SDK calls one instrumented call makes, replayed without our code.

    ``wrapper_call(tp, mp)`` runs the call once through our wrapper; its span and histogram
    points (and with ``enrich`` the processor's context-window point and attribute additions)
    are captured, then replayed against fresh providers: start a CLIENT span with the same
    attributes, make it current and detach, set the response attributes, record the same
    points, end it (with ``enrich``: one more point and a rebuilt copy of the span). What a
    wrapper costs beyond this is our own Python."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind

    from tripwire import semconv
    from tripwire._core.telemetry import make_telemetry

    start_attrs, final, call_points = _capture(wrapper_call, False)
    final_attrs = dict(final.attributes or {})
    end_attrs = {k: v for k, v in final_attrs.items() if start_attrs.get(k) != v}
    wrap: Wrap | None = None
    if enrich:
        _, enriched, enriched_points = _capture(wrapper_call, True)
        added = {k: v for k, v in (enriched.attributes or {}).items() if k not in final_attrs}
        point = next(((v, a) for n, v, a in enriched_points
                      if n == "tripwire.context_window.utilization"), None)

        def wrap(processor: SpanProcessor, meter_provider: MeterProvider) -> SpanProcessor:
            utilization = meter_provider.get_meter("tripwire.processors").create_histogram(
                semconv.METRIC_CONTEXT_WINDOW_UTILIZATION, unit="1",
                explicit_bucket_boundaries_advisory=[float(b)
                                                     for b in semconv.UTILIZATION_BUCKETS])
            return _Rebuilding(processor, utilization, point, added)

    tracer_provider, meter_provider = providers(wrap=wrap)
    telemetry = make_telemetry("bench", tracer_provider, meter_provider)
    instruments = {"gen_ai.client.operation.duration": telemetry.duration,
                   "gen_ai.client.token.usage": telemetry.token_usage,
                   "gen_ai.client.operation.time_to_first_chunk": telemetry.time_to_first_chunk}
    records = [(instruments[n].record, v, a) for n, v, a in call_points]
    tracer, name = telemetry.tracer, final.name

    def op() -> None:
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=start_attrs)
        ctx = otel_trace.set_span_in_context(span)
        otel_context.detach(otel_context.attach(ctx))
        span.set_attributes(end_attrs)
        for record, value, attrs in records:
            record(value, attrs, context=ctx)  # exemplars name the span, as ours do
        span.end()

    return op, tracer_provider
