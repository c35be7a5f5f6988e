"""Peak RSS and retained objects (section ``memory``): ``--spans`` spans (default 1,000,000)
across distinct traces, conversations, users and models straight through the processor, then
``--sdk-calls`` instrumented SDK calls with enrichment; both should be flat after warm-up."""

from __future__ import annotations

import gc
import os
import resource
import time
from typing import Any

from _mock import MESSAGES, make_clients
from enrichment import MODELS, RESOURCE, chat_trace, feed
from harness import NullExporter, providers
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor


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


def _state_sizes() -> dict[str, int]:
    """Entries in the runtime's cross-span tables and budget ledger accounts."""
    from tripwire.runtime import get_runtime

    runtime = get_runtime()
    state = runtime.state
    tables = {"traces": state.traces, "processed": state.processed, "drift": state.drift,
              "accounts": runtime.ledger, "span_blocks": state.span_blocks}
    return {name: len(table) for name, table in tables.items()  # type: ignore[arg-type]
            if hasattr(table, "__len__")}  # a shared-store ledger has no size here


def run_memory_spans(total: int) -> dict[str, Any]:
    """``total`` spans straight through the processor: per trace a local root, three chat
    calls (rotating over ~300 models, priced and unknown; 50k conversations, 20k users) and
    one tool execution; the root ends last. A per-trace budget is on, so ledger accounts
    are created too."""
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    from tripwire.processors import EnrichingSpanProcessor
    from tripwire.runtime import get_settings
    from tripwire.settings import Settings

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
        trace = chat_trace(trace_no, models, who)
        root = trace[0]
        tool = ReadableSpan(
            name="execute_tool lookup",
            context=SpanContext(root.context.trace_id, 9, False, sampled), parent=root.context,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                        "tripwire.tool.arguments_hash": f"{trace_no % 97:016x}"},
            kind=SpanKind.INTERNAL, start_time=root.start_time, end_time=root.end_time,
            resource=RESOURCE)
        feed(proc, [*trace, tool])
        before = done
        done += 5
        if done // interval != before // interval:
            points.append(_checkpoint(done, started))
    seconds = time.perf_counter() - started
    bound = get_settings().state_max_entries
    note = None
    if trace_no < 3 * bound:  # the tables fill up to their bound first: growth until then
        note = (f"only {trace_no:,} traces: the {bound:,}-entry tables are still filling, "
                f"growth is expected; use --spans {15 * bound:,} or more to see them flat")
    sizes = _state_sizes()
    proc.shutdown()
    return {"spans": done, "traces": trace_no, "seconds": round(seconds, 1),
            "us_per_span": round(seconds / done * 1e6, 2),
            "start": {"rss_mb": round(start_rss, 1), "objects": start_objects},
            "checkpoints": points, "flat_after_warmup": _flat(points),
            "peak_rss_mb": round(_peak_rss_mb(), 1), "state_sizes": sizes, "note": note}


def run_memory_sdk(calls: int) -> dict[str, Any]:
    """``calls`` instrumented openai calls with enrichment, one trace each (root span +
    baggage conversation), rotating models, a quarter of them streamed."""
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


def run_memory(spans: int, sdk_calls: int) -> dict[str, Any]:
    return {"spans": run_memory_spans(spans), "sdk": run_memory_sdk(sdk_calls)}


def _growth(run: dict[str, Any]) -> str:
    flat = run["flat_after_warmup"]
    return (f"peak RSS {run['peak_rss_mb']} MB; after warm-up objects "
            f"{flat['objects_growth']:+,} ({flat['objects_growth_pct']:+}%), RSS "
            f"{flat['rss_growth_mb']:+} MB")


def print_memory(result: dict[str, Any]) -> None:
    print("\n== memory")
    spans = result.get("spans")
    if spans:
        print(f"processor, {spans['spans']:,} spans / {spans['traces']:,} traces in "
              f"{spans['seconds']} s ({spans['us_per_span']} µs/span incl. building spans): "
              f"{_growth(spans)}; state {spans['state_sizes']}")
        if spans.get("note"):
            print("  note: " + spans["note"])
        print("  checkpoints (spans: rss MB, objects): " + ", ".join(
            f"{p['spans']:,}: {p['rss_mb']}, {p['objects']:,}" for p in spans["checkpoints"]))
    sdk = result.get("sdk")
    if sdk:
        print(f"instrumented SDK + enrichment, {sdk['calls']:,} calls in {sdk['seconds']} s: "
              f"{_growth(sdk)}")
