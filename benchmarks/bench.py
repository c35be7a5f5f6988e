"""What tripwire costs, measured on the real provider SDKs over in-process mock transports.

Sections (all in one run, ``make bench``):

overhead     µs added per call / per stream chunk, A/B interleaved: every round runs every
             variant back to back (instrument before, uninstrument after, the order rotated
             each round), so machine drift hits all variants alike. ``added`` is the median of
             the per-round paired differences against the uninstrumented SDK in the same
             round; the spread is their p10–p90. Variants: the uninstrumented SDK, tripwire,
             tripwire + EnrichingSpanProcessor (wrapping a BatchSpanProcessor with a no-op
             exporter), the official ``opentelemetry-instrumentation-openai-v2``; plus the
             floor (one SDK span with 15 attributes + 2 histogram points).
isolated     our wrapper alone around pre-made SDK results (no HTTP/JSON/pydantic), and beside
             it ``sdk-share``: the same spans and metric points replayed on the SDK without
             our code, so ``own`` = wrapper - sdk-share is our Python.
enrichment   the EnrichingSpanProcessor alone: µs per GenAI span and spans per second.
imports      import time of ``tripwire`` and of the instrumentors, and ``instrument()`` time
             (fresh interpreters, median of several).
memory       peak RSS and retained objects while ``--spans`` spans (default 1,000,000) across
             distinct traces, conversations, users and models go through the processor, and
             while ``--sdk-calls`` instrumented SDK calls run; flat after warm-up.

    python benchmarks/bench.py [--rounds 25] [--spans 1000000] [--quick] [--only overhead,...]

Results print as a table and are written to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _mock import ANTHROPIC_MODEL, make_anthropic_client, make_clients
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

MESSAGES = [{"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": "Where is my order 1234?"}]
STREAM_CHUNKS = 200
SECTIONS = ("overhead", "isolated", "enrichment", "imports", "memory")
# Process CPU time by default: on a shared machine (CI, colleagues' test runs) wall time
# mostly measures the other processes. It includes the export thread's work. --clock wall
# for wall time.
clock: Callable[[], float] = time.process_time


# --- providers and variants ---------------------------------------------------------------
class NullExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NullProcessor(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


def providers(enrich: bool) -> tuple[TracerProvider, MeterProvider]:
    # No atexit hook: it would keep the provider (and its processors) alive after use.
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor: Any = BatchSpanProcessor(NullExporter(), max_queue_size=100_000)
    if enrich:
        from tripwire.processors import EnrichingSpanProcessor

        processor = EnrichingSpanProcessor(processor, meter_provider=meter_provider)
    tracer_provider.add_span_processor(processor)
    return tracer_provider, meter_provider


def anthropic_instrumentor() -> tuple[Any, str | None]:
    """(AnthropicInstrumentor class or None, why not)."""
    try:
        from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    except Exception as exc:  # being written by a colleague: skip with a clear line
        return None, f"{type(exc).__name__}: {exc}"
    return AnthropicInstrumentor, None


class Variant:
    """Providers are made once; ``instrument()``/``uninstrument()`` around every block."""

    name = "sdk"
    providers_covered: tuple[str, ...] = ("openai", "anthropic")

    def instrument(self) -> None: ...

    def uninstrument(self) -> None: ...

    def shutdown(self) -> None: ...


class Tripwire(Variant):
    def __init__(self, enrich: bool, anthropic_cls: Any) -> None:
        from tripwire.instrumentation.openai import OpenAIInstrumentor

        self.name = "tripwire+enrich" if enrich else "tripwire"
        self.providers_covered = ("openai", "anthropic") if anthropic_cls else ("openai",)
        self.tp, self.mp = providers(enrich)
        self.insts = [OpenAIInstrumentor()]
        if anthropic_cls is not None:
            self.insts.append(anthropic_cls())

    def instrument(self) -> None:
        for inst in self.insts:
            inst.instrument(tracer_provider=self.tp, meter_provider=self.mp, skip_dep_check=True)

    def uninstrument(self) -> None:
        for inst in self.insts:
            inst.uninstrument()

    def shutdown(self) -> None:
        self.tp.shutdown()


class Official(Variant):
    name = "official-openai-v2"
    providers_covered = ("openai",)

    def __init__(self) -> None:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        self.tp, self.mp = providers(False)
        self.inst = OpenAIInstrumentor()

    def instrument(self) -> None:
        self.inst.instrument(tracer_provider=self.tp, meter_provider=self.mp, skip_dep_check=True)

    def uninstrument(self) -> None:
        self.inst.uninstrument()

    def shutdown(self) -> None:
        self.tp.shutdown()


def floor_op(tracer: Any, hist: Any) -> Callable[[], None]:
    attrs = {f"gen_ai.attr.{i}": i for i in range(15)}

    def op() -> None:
        span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
        hist.record(0.1, {"a": 1})
        hist.record(42, {"a": 1})

    return op


# --- operations ---------------------------------------------------------------------------
class Op:
    def __init__(self, name: str, provider: str, fn: Callable[[], Any], chunks: int = 0) -> None:
        self.name, self.provider, self.fn, self.chunks = name, provider, fn, chunks


def operations(with_anthropic: bool) -> list[Op]:
    client, _ = make_clients(STREAM_CHUNKS)
    client1, _ = make_clients(1)

    def chat() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def embeddings() -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input="hello")

    def responses() -> Any:
        return client.responses.create(model="gpt-4o-mini", input="Where is my order?")

    def streamer(c: Any) -> Callable[[], None]:
        def stream() -> None:
            for _ in c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                               stream=True,
                                               stream_options={"include_usage": True}):
                pass
        return stream

    ops = [Op("chat", "openai", chat), Op("embeddings", "openai", embeddings),
           Op("responses", "openai", responses), Op("stream1", "openai", streamer(client1), 1),
           Op("stream200", "openai", streamer(client), STREAM_CHUNKS)]
    if with_anthropic:
        anthropic = make_anthropic_client(STREAM_CHUNKS)
        anthropic1 = make_anthropic_client(1)
        prompt = [{"role": "user", "content": "Where is my order 1234?"}]

        def messages() -> Any:
            return anthropic.messages.create(model=ANTHROPIC_MODEL, max_tokens=256,
                                             system="You are a support assistant.",
                                             messages=prompt)

        def a_streamer(c: Any) -> Callable[[], None]:
            def stream() -> None:
                for _ in c.messages.create(model=ANTHROPIC_MODEL, max_tokens=256,
                                           messages=prompt, stream=True):
                    pass
            return stream

        ops += [Op("anthropic.chat", "anthropic", messages),
                Op("anthropic.stream1", "anthropic", a_streamer(anthropic1), 1),
                Op("anthropic.stream200", "anthropic", a_streamer(anthropic), STREAM_CHUNKS)]
    return ops


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    n = len(ordered)
    lo = ordered[max(0, int(n * 0.1))]
    hi = ordered[min(n - 1, int(n * 0.9))]
    return {"median": round(statistics.median(ordered), 2), "p10": round(lo, 2),
            "p90": round(hi, 2)}


def _paired(values: list[float], base: list[float]) -> dict[str, float]:
    """Stats of the per-round differences ``values[i] - base[i]`` (same round, paired)."""
    return _stats([v - b for v, b in zip(values, base)])


def _block(fn: Callable[[], Any], n: int) -> float:
    """µs per call over ``n`` calls (after 2 warm-up calls)."""
    fn()
    fn()
    gc.collect()
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n * 1e6


def run_overhead(rounds: int, calls: int, stream_calls: int) -> dict[str, Any]:
    """Per round, per operation: every variant back to back (order rotated each round)."""
    anthropic_cls, why = anthropic_instrumentor()
    notes = []
    if anthropic_cls is None:
        notes.append("anthropic: skipped, tripwire.instrumentation.anthropic does not import "
                     f"({why})")
    ops = operations(with_anthropic=anthropic_cls is not None)
    variants: list[Variant] = [Variant(), Tripwire(False, anthropic_cls),
                               Tripwire(True, anthropic_cls)]
    try:
        variants.append(Official())
    except Exception as exc:
        notes.append(f"official-openai-v2: skipped ({type(exc).__name__}: {exc})")
    raw: dict[str, dict[str, list[float]]] = {v.name: {o.name: [] for o in ops} for v in variants}
    floor: list[float] = []
    ftp, fmp = providers(False)
    fop = floor_op(ftp.get_tracer("floor"), fmp.get_meter("floor").create_histogram("h"))
    for variant in variants:  # warm up SDK caches, pydantic models, first-call imports
        variant.instrument()
        for op in ops:
            if op.provider in variant.providers_covered:
                for _ in range(5):
                    op.fn()
        variant.uninstrument()
    gc.collect()
    gc.freeze()  # what exists now is never garbage: later collections skip it (cheap gc.collect)
    try:
        for r in range(rounds):
            print(f"  overhead round {r + 1}/{rounds}", end="\r", file=sys.stderr, flush=True)
            shift = r % len(variants)
            order = variants[shift:] + variants[:shift]
            for op in ops:
                n = stream_calls if op.chunks > 1 else calls
                for variant in order:
                    if op.provider not in variant.providers_covered:
                        continue
                    variant.instrument()
                    try:
                        raw[variant.name][op.name].append(_block(op.fn, n))
                    finally:
                        variant.uninstrument()
            floor.append(_block(fop, calls))
    finally:
        gc.unfreeze()
        for variant in variants:
            variant.shutdown()
        ftp.shutdown()
    return summarize_overhead(raw, floor, notes)


def summarize_overhead(raw: dict[str, dict[str, list[float]]], floor: list[float],
                       notes: list[str]) -> dict[str, Any]:
    base = raw["sdk"]
    out: dict[str, Any] = {"floor_us": _stats(floor), "notes": notes, "variants": {}}
    for variant, ops in raw.items():
        table: dict[str, Any] = {}
        for op, values in ops.items():
            if not values:
                continue
            entry: dict[str, Any] = {"us": _stats(values)}
            if variant != "sdk":
                entry["added_us"] = _paired(values, base[op])
            table[op] = entry
        for prefix in ("", "anthropic."):
            s200, s1 = ops.get(prefix + "stream200"), ops.get(prefix + "stream1")
            if variant == "sdk" or not s200 or not s1:
                continue
            # Marginal cost of a chunk: the 200-chunk stream minus the 1-chunk stream, both
            # paired against the SDK in the same round, over the 199 extra chunks.
            b200, b1 = base[prefix + "stream200"], base[prefix + "stream1"]
            per_chunk = [((a - b200[i]) - (b - b1[i])) / (STREAM_CHUNKS - 1)
                         for i, (a, b) in enumerate(zip(s200, s1))]
            table[prefix + "stream200"]["added_us_per_chunk"] = _stats(per_chunk)
        out["variants"][variant] = table
    return out


# --- our wrapper alone, around pre-made SDK results ---------------------------------------
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
                    if hasattr(dp, "bucket_counts"):
                        points.append((metric.name, dp.sum, dict(dp.attributes)))
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

    from tripwire._core.telemetry import make_telemetry
    from tripwire.processors.metrics import make_instruments

    start_attrs, final, call_points = _capture(wrapper_call, False)
    final_attrs = dict(final.attributes or {})
    end_attrs = {k: v for k, v in final_attrs.items() if start_attrs.get(k) != v}
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor: SpanProcessor = BatchSpanProcessor(NullExporter(), max_queue_size=100_000)
    if enrich:
        _, enriched, enriched_points = _capture(wrapper_call, True)
        added = {k: v for k, v in (enriched.attributes or {}).items() if k not in final_attrs}
        point = next(((v, a) for n, v, a in enriched_points
                      if n == "tripwire.context_window.utilization"), None)
        processor = _Rebuilding(processor,
                                make_instruments(meter_provider).context_window_utilization,
                                point, added)
    tracer_provider.add_span_processor(processor)
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


def run_isolated(rounds: int, calls: int) -> dict[str, Any]:
    """The instrumentation's own cost without the SDK's noise: the wrapper every instrumented
    openai method goes through, around a pre-made response (or an iterator of pre-parsed
    chunks), against calling/iterating the same thing bare. Includes span, metrics and
    (with enrichment) the processor; excludes HTTP, JSON and pydantic parsing."""
    from tripwire._core.telemetry import make_telemetry
    from tripwire._core.wrapping import make_wrapper
    from tripwire.instrumentation.openai import chat, embeddings, responses

    client, _ = make_clients(STREAM_CHUNKS)
    made = {
        "chat": (chat.MAPPING, client.chat.completions,
                 client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
                 {"model": "gpt-4o-mini", "messages": MESSAGES}),
        "embeddings": (embeddings.MAPPING, client.embeddings,
                       client.embeddings.create(model="text-embedding-3-small", input="hello"),
                       {"model": "text-embedding-3-small", "input": "hello"}),
        "responses": (responses.MAPPING, client.responses,
                      client.responses.create(model="gpt-4o-mini", input="Where is my order?"),
                      {"model": "gpt-4o-mini", "input": "Where is my order?"}),
    }
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                 stream=True,
                                                 stream_options={"include_usage": True}))
    stream_kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True,
                     "stream_options": {"include_usage": True}}
    few = chunks[:1] + chunks[-2:]  # one content chunk, the finish chunk, the usage chunk

    def ops_for(tp: Any, mp: Any) -> dict[str, Callable[[], Any]]:
        telemetry = make_telemetry("bench", tp, mp)
        ops: dict[str, Callable[[], Any]] = {}
        for name, (mapping, instance, result, kwargs) in made.items():
            wrapper = make_wrapper(telemetry, mapping, False)
            ops[name] = (lambda w=wrapper, i=instance, r=result, k=kwargs:
                         w(lambda *a, **kw: r, i, (), k))
        wrapper = make_wrapper(telemetry, chat.MAPPING, False)
        for name, items in (("stream_few", few), ("stream200", chunks)):
            def stream(w: Any = wrapper, items: list[Any] = items) -> None:
                for _ in w(lambda *a, **kw: iter(items), client.chat.completions, (),
                           stream_kwargs):
                    pass
            ops[name] = stream
        return ops

    def bare(items: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in iter(items):
                pass
        return run

    bare_ops: dict[str, Callable[[], Any]] = {
        name: (lambda r=result: (lambda *a, **kw: r)()) for name, (_, _, result, _) in made.items()}
    bare_ops["stream_few"] = bare(few)
    bare_ops["stream200"] = bare(chunks)
    providers_ = {"tripwire": providers(False), "tripwire+enrich": providers(True)}
    variants = {"bare": bare_ops,
                **{name: ops_for(tp, mp) for name, (tp, mp) in providers_.items()}}
    # The SDK's share: the same spans and points replayed without our code (not for streams).
    share_tps = []
    for enrich in (False, True):
        share: dict[str, Callable[[], Any]] = {}
        for name in made:
            op, share_tp = sdk_share_op(
                lambda tp, mp, name=name: ops_for(tp, mp)[name](), enrich)
            share[name] = op
            share_tps.append(share_tp)
        variants["sdk-share+enrich" if enrich else "sdk-share"] = share
    # Production calls run inside a sampled server span: then the SDK's default exemplar
    # filter (trace_based) offers every metric point as an exemplar.
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    parent = otel_trace.set_span_in_context(NonRecordingSpan(SpanContext(
        0x5EED << 64, 0x5EED, False, TraceFlags(TraceFlags.SAMPLED))))

    def in_span(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            token = otel_context.attach(parent)
            try:
                return fn()
            finally:
                otel_context.detach(token)
        return run

    for ops in variants.values():
        ops["chat_in_span"] = in_span(ops["chat"])
    raw: dict[str, dict[str, list[float]]] = {v: {o: [] for o in ops} for v, ops in
                                              variants.items()}
    floor: list[float] = []
    ftp, fmp = providers(False)
    fop = floor_op(ftp.get_tracer("floor"), fmp.get_meter("floor").create_histogram("h"))
    gc.collect()
    gc.freeze()
    try:
        for r in range(rounds):
            names = list(variants)
            shift = r % len(names)
            for op in bare_ops:
                n = max(calls // 10, 5) if op == "stream200" else calls
                for name in names[shift:] + names[:shift]:
                    if op in variants[name]:
                        raw[name][op].append(_block(variants[name][op], n))
            floor.append(_block(fop, calls))
    finally:
        gc.unfreeze()
        for tp in [*(tp for tp, _ in providers_.values()), *share_tps]:
            tp.shutdown()
        ftp.shutdown()
    out: dict[str, Any] = {"floor_us": _stats(floor), "variants": {}}
    for name in ("sdk-share", "sdk-share+enrich"):
        out["variants"][name] = {op: {"added_us": _paired(raw[name][op], raw["bare"][op])}
                                 for op in variants[name]}
    for name in providers_:
        table: dict[str, Any] = {}
        share_name = name.replace("tripwire", "sdk-share")
        for op in bare_ops:
            table[op] = {"added_us": _paired(raw[name][op], raw["bare"][op])}
            if raw[share_name].get(op):
                # Our own Python: the wrapper minus the SDK work it asked for, same round.
                table[op]["own_us"] = _paired(raw[name][op], raw[share_name][op])
        per_chunk = [((a - ab) - (f - fb)) / (len(chunks) - len(few)) for a, ab, f, fb in
                     zip(raw[name]["stream200"], raw["bare"]["stream200"],
                         raw[name]["stream_few"], raw["bare"]["stream_few"])]
        table["stream200"]["added_us_per_chunk"] = _stats(per_chunk)
        out["variants"][name] = table
    return out


# --- the enrichment processor alone -------------------------------------------------------
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "o3-mini", "claude-sonnet-4-5", "gemini-2.5-pro")
_RESOURCE = Resource.create({"service.name": "bench"})


def genai_attrs(model: str, provider: str = "openai") -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
            "gen_ai.request.model": model, "gen_ai.response.model": model + "-2025-01-01",
            "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80,
            "gen_ai.response.finish_reasons": ("stop",), "server.address": "api.openai.com",
            "server.port": 443, "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 256}


def _chat_trace(trace_no: int, models: list[str] | tuple[str, ...],
                extra: Callable[[dict[str, Any], int], None] | None = None) -> list[Any]:
    """A local root (first) and three chat spans of one trace, as ended ReadableSpans."""
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    sampled = TraceFlags(TraceFlags.SAMPLED)
    trace_id = (trace_no << 64) | 0xABCDEF
    now = time.time_ns()
    root_ctx = SpanContext(trace_id, 1, False, sampled)
    out = [ReadableSpan(name="POST /chat", context=root_ctx, parent=None,
                        attributes={"http.route": "/chat"}, kind=SpanKind.SERVER,
                        start_time=now, end_time=now + 5000, resource=_RESOURCE)]
    for i in range(3):
        model = models[(trace_no * 3 + i) % len(models)]
        attrs = genai_attrs(model)
        if extra is not None:
            extra(attrs, trace_no)
        out.append(ReadableSpan(name="chat " + model,
                                context=SpanContext(trace_id, 2 + i, False, sampled),
                                parent=root_ctx, attributes=attrs, kind=SpanKind.CLIENT,
                                start_time=now, end_time=now + 1000, resource=_RESOURCE))
    return out


def _feed(proc: Any, trace: list[Any]) -> None:
    root = trace[0]
    proc.on_start(root, None)
    for span in trace[1:]:
        proc.on_end(span)
    proc.on_end(root)


def run_enrichment(rounds: int, spans: int) -> dict[str, Any]:
    """(1) The processor alone: ``on_start``/``on_end`` of ended spans fed straight in (a
    local root + 3 chat spans per trace, distinct traces), per span, downstream a no-op.
    (2) Through an SDK TracerProvider: chat spans with and without the processor."""
    from tripwire.processors import EnrichingSpanProcessor

    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    out: dict[str, Any] = {}
    proc = EnrichingSpanProcessor(NullProcessor(), meter_provider=meter)
    empty = _chat_trace(0, MODELS)  # the same spans with the processor's work skipped
    alone, alone_plain = [], []
    traces = spans // 4
    for r in range(rounds):
        batch = [_chat_trace(r * traces + i + 1, MODELS) for i in range(traces)]
        for trace in batch[:20]:
            _feed(proc, trace)
        gc.collect()
        start = clock()
        for trace in batch[20:]:
            _feed(proc, trace)
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
    out["processor_alone"] = {"us_per_span": _stats(alone), "spans_per_s": round(1e6 / med),
                              "plain_span_us": _stats(alone_plain)}
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
    out["through_sdk"] = {"sdk_span_us": _stats(base), "enriched_span_us": _stats(enriched),
                          "added_us": _stats(added)}
    return out


# --- import and instrument() time ---------------------------------------------------------
_IMPORT_PROBE = r"""
import json, sys, time
now = time.process_time if sys.argv[1] == "cpu" else time.perf_counter
out = {}
t = now(); import tripwire; out["import tripwire"] = now() - t
t = now(); import tripwire.processors
out["import tripwire.processors"] = now() - t
import openai, anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
tp, mp = TracerProvider(), MeterProvider()
t = now(); from tripwire.instrumentation.openai import OpenAIInstrumentor
out["import tripwire.instrumentation.openai"] = now() - t
t = now(); OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
out["OpenAIInstrumentor().instrument() (imports openai's lazy resource modules)"] = (
    now() - t)
OpenAIInstrumentor().uninstrument()
t = now(); OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
out["OpenAIInstrumentor().instrument() (modules already imported)"] = now() - t
try:
    t = now(); from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    out["import tripwire.instrumentation.anthropic"] = now() - t
    t = now()
    AnthropicInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    out["AnthropicInstrumentor().instrument()"] = now() - t
except Exception:
    pass
try:
    t = now(); from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as O
    out["import opentelemetry.instrumentation.openai_v2 (official)"] = now() - t
    t = now(); O().instrument(tracer_provider=tp, meter_provider=mp)
    out["official OpenAIInstrumentor().instrument()"] = now() - t
except Exception:
    pass
print(json.dumps(out))
"""


def run_imports(repeats: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        which = "cpu" if clock is time.process_time else "wall"
        done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, which], capture_output=True,
                              text=True, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        for key, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(key, []).append(seconds * 1e3)
    return {key: _stats(values) for key, values in samples.items()}


# --- memory -------------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _checkpoint(done: int, started: float) -> dict[str, Any]:
    gc.collect()
    return {"spans": done, "seconds": round(time.perf_counter() - started, 1),
            "rss_mb": round(_rss_mb(), 1), "objects": len(gc.get_objects())}


def _flat(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth from the checkpoint after warm-up (the third of ten) to the last."""
    warm, last = points[min(2, len(points) - 1)], points[-1]
    return {"objects_growth": last["objects"] - warm["objects"],
            "objects_growth_pct": round((last["objects"] - warm["objects"])
                                        / warm["objects"] * 100, 2),
            "rss_growth_mb": round(last["rss_mb"] - warm["rss_mb"], 1)}


def run_memory_spans(total: int) -> dict[str, Any]:
    """``total`` spans straight through the processor: per trace a local root, three chat
    calls (rotating over ~300 models, priced and unknown; 50k conversations, 20k users) and
    one tool execution; the root ends last. A per-trace budget is on, so ledger accounts
    are created too."""
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    from tripwire.processors import EnrichingSpanProcessor
    from tripwire.processors.state import get_state
    from tripwire.settings import Settings, get_settings

    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    downstream = BatchSpanProcessor(NullExporter(), max_queue_size=4096)
    proc = EnrichingSpanProcessor(downstream, meter_provider=meter,
                                  settings=Settings(budget_trace_usd=0.05))
    sampled = TraceFlags(TraceFlags.SAMPLED)
    models = [*MODELS, *(f"ft:gpt-4o-mini:acme:{i}" for i in range(150)),
              *(f"gpt-4o-mini-2024-{i:04d}" for i in range(150))]

    def who(attrs: dict[str, Any], trace_no: int) -> None:
        attrs["gen_ai.conversation.id"] = f"conv-{trace_no % 50_000}"
        attrs["user.id"] = f"user-{trace_no % 20_000}"

    interval = max(total // 10, 1)
    points: list[dict[str, Any]] = []
    gc.collect()
    start_objects, start_rss = len(gc.get_objects()), _rss_mb()
    started = time.perf_counter()
    done = trace_no = 0
    while done < total:
        trace_no += 1
        trace = _chat_trace(trace_no, models, who)
        root = trace[0]
        proc.on_start(root, None)
        for span in trace[1:]:
            proc.on_end(span)
        proc.on_end(ReadableSpan(
            name="execute_tool lookup",
            context=SpanContext(root.context.trace_id, 9, False, sampled), parent=root.context,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                        "tripwire.tool.arguments_hash": f"{trace_no % 97:016x}"},
            kind=SpanKind.INTERNAL, start_time=root.start_time, end_time=root.end_time,
            resource=_RESOURCE))
        proc.on_end(root)
        before = done
        done += 5
        if done // interval != before // interval:
            points.append(_checkpoint(done, started))
    seconds = time.perf_counter() - started
    state = get_state()
    bound = get_settings().state_max_entries
    note = None
    if trace_no < 3 * bound:  # the tables fill up to their bound first: growth until then
        note = (f"only {trace_no:,} traces: the {bound:,}-entry tables are still filling, "
                f"growth is expected; use --spans {15 * bound:,} or more to see them flat")
    sizes = {name: len(getattr(state, name))
             for name in ("traces", "processed", "drift", "accounts", "span_blocks")}
    proc.shutdown()
    return {"spans": done, "traces": trace_no, "seconds": round(seconds, 1),
            "us_per_span": round(seconds / done * 1e6, 2),
            "start": {"rss_mb": round(start_rss, 1), "objects": start_objects},
            "checkpoints": points, "flat_after_warmup": _flat(points),
            "peak_rss_mb": round(_peak_rss_mb(), 1), "state_sizes": sizes, "note": note}


def run_memory_sdk(calls: int) -> dict[str, Any]:
    """``calls`` instrumented openai calls with enrichment, one trace each (root span +
    baggage conversation), rotating models; objects and RSS flat after warm-up."""
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    from tripwire.instrumentation.openai import OpenAIInstrumentor

    client, _ = make_clients(20)
    tp, mp = providers(True)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tp, meter_provider=mp)
    tracer = tp.get_tracer("app")
    models = [*MODELS, *(f"ft:gpt-4o-mini:acme:{i}" for i in range(100))]
    interval = max(calls // 10, 1)
    points: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for i in range(calls):
            token = otel_context.attach(baggage.set_baggage("gen_ai.conversation.id",
                                                            f"conv-{i}"))
            try:
                with tracer.start_as_current_span("POST /chat"):
                    model = models[i % len(models)]
                    if i % 4 == 3:
                        for _ in client.chat.completions.create(
                                model=model, messages=MESSAGES, stream=True,
                                stream_options={"include_usage": True}):
                            pass
                    else:
                        client.chat.completions.create(model=model, messages=MESSAGES)
            finally:
                otel_context.detach(token)
            if (i + 1) % interval == 0:
                points.append(_checkpoint(i + 1, started))
    finally:
        inst.uninstrument()
        tp.shutdown()
    return {"calls": calls, "seconds": round(time.perf_counter() - started, 1),
            "checkpoints": points, "flat_after_warmup": _flat(points),
            "peak_rss_mb": round(_peak_rss_mb(), 1)}


# --- output -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform()}


def _fmt(s: dict[str, float] | None, digits: int = 1) -> str:
    if not s:
        return ""
    return f"{s['median']:.{digits}f} ({s['p10']:.{digits}f}…{s['p90']:.{digits}f})"


def print_overhead(result: dict[str, Any]) -> None:
    print(f"\n== overhead (median, p10…p90 over rounds; added = paired vs the uninstrumented "
          f"SDK in the same round)\nfloor, one SDK span with 15 attributes + 2 histogram "
          f"points: {_fmt(result['floor_us'])} µs")
    for note in result["notes"]:
        print("  " + note)
    print(f"{'variant':<20}{'operation':<21}{'µs/op':>26}{'added µs/op':>26}"
          f"{'added µs/chunk':>22}")
    for variant, ops in result["variants"].items():
        for op, e in ops.items():
            print(f"{variant:<20}{op:<21}{_fmt(e['us']):>26}{_fmt(e.get('added_us')):>26}"
                  f"{_fmt(e.get('added_us_per_chunk'), 2):>22}")


def print_isolated(result: dict[str, Any]) -> None:
    print("\n== our wrapper alone around pre-made openai results (no HTTP/JSON/pydantic), "
          "µs added, median (p10…p90)")
    print(f"floor: {_fmt(result['floor_us'])} µs")
    print("sdk-share: the same spans and metric points replayed on the SDK without our code "
          "(with +enrich: the context-window point and the rebuilt span too); own = the "
          "wrapper minus its sdk-share, same round")
    print(f"{'variant':<20}{'operation':<14}{'added µs/op':>26}{'own µs/op':>26}"
          f"{'added µs/chunk':>22}")
    for variant, ops in result["variants"].items():
        for op, e in ops.items():
            print(f"{variant:<20}{op:<14}{_fmt(e['added_us']):>26}{_fmt(e.get('own_us')):>26}"
                  f"{_fmt(e.get('added_us_per_chunk'), 2):>22}")


def print_enrichment(result: dict[str, Any]) -> None:
    alone, sdk = result["processor_alone"], result["through_sdk"]
    print("\n== EnrichingSpanProcessor alone (µs per span, median, p10…p90)")
    print(f"processor alone, ended spans fed to on_start/on_end (root + 3 chat spans per trace): "
          f"{_fmt(alone['us_per_span'])} µs/span → {alone['spans_per_s']:,} spans/s; "
          f"non-GenAI pass-through {_fmt(alone['plain_span_us'], 2)} µs/span")
    print(f"through an SDK provider, chat span: SDK alone {_fmt(sdk['sdk_span_us'])}, with the "
          f"processor {_fmt(sdk['enriched_span_us'])}, added {_fmt(sdk['added_us'])} µs/span")


def print_imports(result: dict[str, Any]) -> None:
    print("\n== import and instrument() time, fresh interpreter (ms, median, p10…p90)")
    for key, s in result.items():
        print(f"{key:<76}{_fmt(s, 1):>24}")


def print_memory(result: dict[str, Any]) -> None:
    print("\n== memory")
    spans = result.get("spans")
    if spans:
        flat = spans["flat_after_warmup"]
        print(f"processor, {spans['spans']:,} spans / {spans['traces']:,} traces in "
              f"{spans['seconds']} s ({spans['us_per_span']} µs/span incl. building spans): "
              f"peak RSS {spans['peak_rss_mb']} MB; after warm-up objects "
              f"{flat['objects_growth']:+,} ({flat['objects_growth_pct']:+}%), RSS "
              f"{flat['rss_growth_mb']:+} MB; state {spans['state_sizes']}")
        if spans.get("note"):
            print("  note: " + spans["note"])
        print("  checkpoints (spans: rss MB, objects): " + ", ".join(
            f"{p['spans']:,}: {p['rss_mb']}, {p['objects']:,}" for p in spans["checkpoints"]))
    sdk = result.get("sdk")
    if sdk:
        flat = sdk["flat_after_warmup"]
        print(f"instrumented SDK + enrichment, {sdk['calls']:,} calls in {sdk['seconds']} s: "
              f"peak RSS {sdk['peak_rss_mb']} MB; after warm-up objects "
              f"{flat['objects_growth']:+,} ({flat['objects_growth_pct']:+}%), RSS "
              f"{flat['rss_growth_mb']:+} MB")


TARGETS = (  # (label, path in the results, limit µs): the targets, processor on
    ("added per non-streaming chat call, SDK A/B",
     ("overhead", "variants", "tripwire+enrich", "chat", "added_us"), 60.0),
    ("added per chat call, wrapper alone",
     ("isolated", "variants", "tripwire+enrich", "chat", "added_us"), 60.0),
    ("added per stream chunk, SDK A/B",
     ("overhead", "variants", "tripwire+enrich", "stream200", "added_us_per_chunk"), 2.0),
    ("added per stream chunk, wrapper alone",
     ("isolated", "variants", "tripwire+enrich", "stream200", "added_us_per_chunk"), 2.0),
    ("enrichment processor per span, alone",
     ("enrichment", "processor_alone", "us_per_span"), 10.0),
)


def _dig(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target's median and spread, and the same in floors (the floor measured in the
    same section: figures from a loaded machine compare better that way)."""
    out = []
    for label, path, limit in TARGETS:
        value = _dig(result, path)
        if value is None:
            continue
        section = "isolated" if path[0] == "isolated" else "overhead"
        floor = _dig(result, (section, "floor_us", "median"))
        out.append({"target": label, "limit_us": limit, "measured_us": value,
                    "met": value["median"] <= limit,
                    "in_floors": round(value["median"] / floor, 2) if floor else None})
    return out


def print_targets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print("\n== targets (enrichment on)")
    for row in rows:
        floors = f"  = {row['in_floors']} floors" if row["in_floors"] else ""
        print(f"{row['target']:<42} ≤ {row['limit_us']:>5.1f} µs: "
              f"{_fmt(row['measured_us'], 2):>26}{floors}  "
              f"{'met' if row['met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="A/B rounds (overhead)")
    parser.add_argument("--calls", type=int, default=50, help="calls per block")
    parser.add_argument("--stream-calls", type=int, default=4,
                        help="200-chunk streams per block")
    parser.add_argument("--spans", type=int, default=1_000_000,
                        help="spans through the processor for the memory section")
    parser.add_argument("--sdk-calls", type=int, default=2000,
                        help="instrumented SDK calls for the memory section")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="process CPU time (default; robust on a shared machine) or wall")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: few rounds, 50,000 spans")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.spans, args.sdk_calls = 4, 50_000, 500
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    print(f"machine: {result['machine']}")
    if "imports" in sections:
        result["imports"] = run_imports(7 if not args.quick else 3)
        print_imports(result["imports"])
    if "overhead" in sections:
        result["overhead"] = run_overhead(args.rounds, args.calls, args.stream_calls)
        print_overhead(result["overhead"])
    if "isolated" in sections:
        result["isolated"] = run_isolated(max(args.rounds, 20), args.calls * 4)
        print_isolated(result["isolated"])
    if "enrichment" in sections:
        result["enrichment"] = run_enrichment(max(args.rounds // 2, 3), 2000)
        print_enrichment(result["enrichment"])
    if "memory" in sections:
        result["memory"] = {"spans": run_memory_spans(args.spans),
                            "sdk": run_memory_sdk(args.sdk_calls)}
        print_memory(result["memory"])
    result["targets"] = targets(result)
    print_targets(result["targets"])
    result["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"\ntotal {result['seconds']} s; written to {args.json}")


if __name__ == "__main__":
    main()
