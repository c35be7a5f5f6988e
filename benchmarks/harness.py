"""The measuring machinery every section shares: the clock, timed blocks, A/B rounds with
the floor, per-round pairing, the providers, and the table printer."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
# Process CPU time by default: on a shared machine wall time mostly measures the other
# processes. It includes the export thread's work.
clock_name = "cpu"

Stats = dict[str, float]
Raw = dict[str, dict[str, list[float]]]  # variant -> operation -> one figure per round


def set_clock(name: str) -> None:
    global clock_name
    clock_name = name


def timer() -> Callable[[], float]:
    """The clock chosen with ``set_clock``."""
    return CLOCKS[clock_name]


# --- providers ----------------------------------------------------------------------------
class NullExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NullProcessor(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


Wrap = Callable[[SpanProcessor, MeterProvider], SpanProcessor]


def enriching(processor: SpanProcessor, meter_provider: MeterProvider) -> SpanProcessor:
    from tripwire.processors import EnrichingSpanProcessor

    return EnrichingSpanProcessor(processor, meter_provider=meter_provider)


def providers(enrich: bool = False, wrap: Wrap | None = None
              ) -> tuple[TracerProvider, MeterProvider]:
    """A tracer provider exporting through a ``BatchSpanProcessor`` to a no-op exporter, and
    a meter provider with an in-memory reader. The batch processor is wrapped in
    ``EnrichingSpanProcessor`` with ``enrich``, or by ``wrap(processor, meter_provider)``."""
    # No atexit hook: it would keep the provider (and its processors) alive after use.
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor: SpanProcessor = BatchSpanProcessor(NullExporter(), max_queue_size=100_000)
    wrap = enriching if enrich else wrap
    if wrap is not None:
        processor = wrap(processor, meter_provider)
    tracer_provider.add_span_processor(processor)
    return tracer_provider, meter_provider


# --- statistics ---------------------------------------------------------------------------
def stats(values: list[float]) -> Stats:
    ordered = sorted(values)
    n = len(ordered)
    lo = ordered[max(0, int(n * 0.1))]
    hi = ordered[min(n - 1, int(n * 0.9))]
    return {"median": round(statistics.median(ordered), 2), "p10": round(lo, 2),
            "p90": round(hi, 2)}


def paired(values: list[float], base: list[float]) -> Stats:
    """Stats of the per-round differences ``values[i] - base[i]`` (same round, paired)."""
    return stats([v - b for v, b in zip(values, base)])


def per_chunk(long: list[float], long_base: list[float], short: list[float],
              short_base: list[float], extra_chunks: int) -> Stats:
    """Marginal cost of a chunk: a long stream minus a short one, both paired against their
    base in the same round, over the chunks the long one has in addition."""
    return stats([((a - ab) - (s - sb)) / extra_chunks
                  for a, ab, s, sb in zip(long, long_base, short, short_base)])


# --- timing -------------------------------------------------------------------------------
# µs per call of the last ``block`` on both clocks: the chosen one is returned, the other
# is kept here for ``interleave(..., other=...)`` (wall time reported beside CPU time).
last_block: dict[str, float] = {}


def block(fn: Callable[[], Any], n: int) -> float:
    """µs per call over ``n`` calls (after 2 warm-up calls), on the chosen clock; both
    clocks' figures are left in ``last_block``."""
    cpu, wall = time.process_time, time.perf_counter
    fn()
    fn()
    gc.collect()
    start_cpu, start_wall = cpu(), wall()
    for _ in range(n):
        fn()
    end_wall, end_cpu = wall(), cpu()
    last_block["cpu"] = (end_cpu - start_cpu) / n * 1e6
    last_block["wall"] = (end_wall - start_wall) / n * 1e6
    return last_block[clock_name]


def _floor_op(tracer: Any, hist: Any) -> Callable[[], None]:
    """The floor: one SDK span with 15 attributes plus two histogram points, the least any
    instrumentation recording a span and its metrics can cost."""
    attrs = {f"gen_ai.attr.{i}": i for i in range(15)}

    def op() -> None:
        span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
        hist.record(0.1, {"a": 1})
        hist.record(42, {"a": 1})

    return op


def interleave(rounds: int, variants: Sequence[str], ops: Sequence[str],
               measure: Callable[[str, str], float | None], floor_calls: int,
               label: str, other: Raw | None = None) -> tuple[Raw, list[float]]:
    """A/B rounds: per round, per operation, every variant back to back, the variant order
    rotated each round so machine drift hits all variants alike; then the floor.
    ``measure(variant, op)`` times one block, or returns None where the variant does not
    cover the operation. With ``other``, the same blocks on the other clock (wall time when
    the chosen clock is CPU time) are collected there, same shape."""
    raw: Raw = {v: {o: [] for o in ops} for v in variants}
    floor: list[float] = []
    ftp, fmp = providers(False)
    fop = _floor_op(ftp.get_tracer("floor"), fmp.get_meter("floor").create_histogram("h"))
    gc.collect()
    gc.freeze()  # what exists now is never garbage: later collections skip it (cheap gc.collect)
    try:
        for r in range(rounds):
            print(f"  {label} round {r + 1}/{rounds}", end="\r", file=sys.stderr, flush=True)
            shift = r % len(variants)
            order = [*variants[shift:], *variants[:shift]]
            for op in ops:
                for variant in order:
                    value = measure(variant, op)
                    if value is not None:
                        raw[variant][op].append(value)
                        if other is not None:
                            other.setdefault(variant, {}).setdefault(op, []).append(
                                last_block["wall" if clock_name == "cpu" else "cpu"])
            floor.append(block(fop, floor_calls))
    finally:
        gc.unfreeze()
        ftp.shutdown()
    return raw, floor


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


def fmt(s: Stats | None, digits: int = 1) -> str:
    if not s:
        return ""
    return f"{s['median']:.{digits}f} ({s['p10']:.{digits}f}…{s['p90']:.{digits}f})"


Column = tuple[str, str, int, int]  # heading, key in a row's entry, width, digits
CHUNK_COLUMN: Column = ("added µs/chunk", "added_us_per_chunk", 22, 2)


def print_table(heading: Sequence[str], variants: dict[str, dict[str, dict[str, Any]]],
                op_width: int, columns: Sequence[Column]) -> None:
    """A section's heading lines, then one row per (variant, operation)."""
    print("\n" + "\n".join(heading))
    print(f"{'variant':<20}{'operation':<{op_width}}"
          + "".join(f"{title:>{width}}" for title, _, width, _ in columns))
    for variant, ops in variants.items():
        for op, entry in ops.items():
            print(f"{variant:<20}{op:<{op_width}}"
                  + "".join(f"{fmt(entry.get(key), digits):>{width}}"
                            for _, key, width, digits in columns))
