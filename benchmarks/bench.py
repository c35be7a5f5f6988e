"""Overhead of tripwire on the real openai SDK, A/B interleaved in one run.

Each round runs every variant back to back (instrumenting before, uninstrumenting after),
so machine drift hits all variants alike. Reported: median µs per operation per variant,
the spread (p10–p90 of round medians), and the added µs against the uninstrumented SDK.

    python benchmarks/bench.py [--rounds 15] [--calls 300] [--json benchmarks/results/latest.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _mock import make_clients
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

MESSAGES = [{"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": "Where is my order 1234?"}]


class NullExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def providers(enrich: bool) -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor: Any = BatchSpanProcessor(NullExporter(), max_queue_size=100_000)
    if enrich:
        from tripwire.processors import EnrichingSpanProcessor

        processor = EnrichingSpanProcessor(processor, meter_provider=meter_provider)
    tracer_provider.add_span_processor(processor)
    return tracer_provider, meter_provider


class Variant:
    name = "base"

    def setup(self) -> None: ...

    def teardown(self) -> None: ...


class Uninstrumented(Variant):
    name = "sdk"


class Tripwire(Variant):
    def __init__(self, enrich: bool) -> None:
        self.enrich = enrich
        self.name = "tripwire+enrich" if enrich else "tripwire"

    def setup(self) -> None:
        from tripwire.instrumentation.openai import OpenAIInstrumentor

        self.tp, self.mp = providers(self.enrich)
        self.inst = OpenAIInstrumentor()
        self.inst.instrument(tracer_provider=self.tp, meter_provider=self.mp)

    def teardown(self) -> None:
        self.inst.uninstrument()
        self.tp.shutdown()


class Official(Variant):
    name = "official-openai-v2"

    def setup(self) -> None:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        self.tp, self.mp = providers(False)
        self.inst = OpenAIInstrumentor()
        self.inst.instrument(tracer_provider=self.tp, meter_provider=self.mp)

    def teardown(self) -> None:
        self.inst.uninstrument()
        self.tp.shutdown()


def floor_op(tracer: Any, hist: Any) -> Callable[[], None]:
    attrs = {f"gen_ai.attr.{i}": i for i in range(15)}

    def op() -> None:
        span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
        hist.record(0.1, {"a": 1})
        hist.record(42, {"a": 1})

    return op


def operations(client: Any) -> dict[str, Callable[[], Any]]:
    def chat() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def embeddings() -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input="hello")

    def responses() -> Any:
        return client.responses.create(model="gpt-4o-mini", input="Where is my order?")

    def stream() -> Any:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=True,
                                                stream_options={"include_usage": True}):
            pass

    return {"chat": chat, "embeddings": embeddings, "responses": responses, "stream200": stream}


def run(rounds: int, calls: int, stream_calls: int) -> dict[str, Any]:
    client, _ = make_clients(200)
    ops = operations(client)
    variants: list[Variant] = [Uninstrumented(), Tripwire(False)]
    try:
        from tripwire.processors import EnrichingSpanProcessor  # noqa: F401

        variants.append(Tripwire(True))
    except ImportError:
        pass
    try:
        import opentelemetry.instrumentation.openai_v2  # noqa: F401

        variants.append(Official())
    except Exception:
        pass
    samples: dict[str, dict[str, list[float]]] = {v.name: {k: [] for k in ops} for v in variants}
    floor_samples: list[float] = []
    ftp, fmp = providers(False)
    fop = floor_op(ftp.get_tracer("floor"), fmp.get_meter("floor").create_histogram("h"))
    for op in ops.values():  # warm up SDK caches, pydantic models, tokenizers
        for _ in range(20):
            op()
    for _ in range(rounds):
        for variant in variants:
            variant.setup()
            for name, op in ops.items():
                n = stream_calls if name == "stream200" else calls
                for _ in range(min(n, 20)):
                    op()
                gc.collect()
                start = time.perf_counter()
                for _ in range(n):
                    op()
                samples[variant.name][name].append((time.perf_counter() - start) / n * 1e6)
            variant.teardown()
        start = time.perf_counter()
        for _ in range(calls):
            fop()
        floor_samples.append((time.perf_counter() - start) / calls * 1e6)
    ftp.shutdown()
    return summarize(samples, floor_samples)


def _spread(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    lo = ordered[max(0, int(len(ordered) * 0.1))]
    hi = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return statistics.median(ordered), lo, hi


def summarize(samples: dict[str, dict[str, list[float]]], floor: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"variants": {}, "floor_us": _spread(floor)[0]}
    base = {op: statistics.median(v) for op, v in samples["sdk"].items()}
    for variant, ops in samples.items():
        out["variants"][variant] = {}
        for op, values in ops.items():
            median, lo, hi = _spread(values)
            entry = {"median_us": round(median, 1), "p10_us": round(lo, 1),
                     "p90_us": round(hi, 1), "added_us": round(median - base[op], 1)}
            if op == "stream200":
                entry["added_us_per_chunk"] = round((median - base[op]) / 200, 2)
            out["variants"][variant][op] = entry
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"floor (span with 15 attributes + 2 histogram points): {result['floor_us']:.1f} µs")
    print(f"{'variant':<22}{'operation':<12}{'median µs':>11}{'p10–p90':>18}{'added µs':>10}"
          f"{'added/chunk':>13}")
    for variant, ops in result["variants"].items():
        for op, e in ops.items():
            per_chunk = f"{e['added_us_per_chunk']:.2f}" if "added_us_per_chunk" in e else ""
            print(f"{variant:<22}{op:<12}{e['median_us']:>11.1f}"
                  f"{e['p10_us']:>9.1f}–{e['p90_us']:<8.1f}{e['added_us']:>10.1f}{per_chunk:>13}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--stream-calls", type=int, default=20)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args()
    result = run(args.rounds, args.calls, args.stream_calls)
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                         "processor": platform.processor() or platform.machine()}
    print_table(result)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
