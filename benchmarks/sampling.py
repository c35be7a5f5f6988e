"""What accounting costs when the head sampler drops the span (issue 14), section ``sampling``.

One chat call through the real openai SDK over the in-process mock transport, A/B in the same
rounds (CPU time, µs per call, median of rounds):

- ``sdk``: no instrumentation;
- ``tripwire on`` / ``tripwire off``: tripwire + enrichment, sampler ``ALWAYS_ON`` /
  ``ALWAYS_OFF`` (the dropped span accounts for itself: a shadow span, the enrichers run);
- ``tripwire ratio0+wrap``: ``GenAIRecordingSampler(TraceIdRatioBased(0))``: the span is
  recorded but not sampled, the processor enriches it, the exporter drops it;
- ``official off`` / ``official off+wrap``: the official openai-v2 instrumentor, dropped
  (nothing accounted), and recorded-only under the wrapper with enrichment (its spans
  accounted).
"""

from __future__ import annotations

from typing import Any

from _mock import MESSAGES, STREAM_CHUNKS, make_clients
from harness import NullExporter, enriching, interleave, paired
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, TraceIdRatioBased

from tripwire.sampling import GenAIRecordingSampler


def _provider(sampler: Sampler, enrich: bool) -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor: Any = BatchSpanProcessor(NullExporter(), max_queue_size=100_000)
    if enrich:
        processor = enriching(processor, meter_provider)
    tracer_provider.add_span_processor(processor)
    return tracer_provider, meter_provider


class _Variant:
    def __init__(self, name: str, official: bool, sampler: Sampler | None,
                 enrich: bool = True) -> None:
        self.name = name
        self.inst: Any = None
        if sampler is None:
            return
        self.tp, self.mp = _provider(sampler, enrich)
        if official:
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as cls
        else:
            from tripwire.instrumentation.openai import OpenAIInstrumentor as cls  # type: ignore[assignment]
        self.inst = cls()

    def instrument(self) -> None:
        if self.inst is not None:
            self.inst.instrument(tracer_provider=self.tp, meter_provider=self.mp,
                                 skip_dep_check=True)

    def uninstrument(self) -> None:
        if self.inst is not None:
            self.inst.uninstrument()

    def shutdown(self) -> None:
        if self.inst is not None:
            self.tp.shutdown()


def run_sampling(rounds: int, calls: int) -> dict[str, Any]:
    from harness import block

    client, _ = make_clients(STREAM_CHUNKS)

    def chat() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    ratio0 = GenAIRecordingSampler(TraceIdRatioBased(0.0))
    variants = [_Variant("sdk", False, None),
                _Variant("tripwire on", False, ALWAYS_ON),
                _Variant("tripwire off", False, ALWAYS_OFF),
                _Variant("tripwire ratio0+wrap", False, ratio0)]
    notes: list[str] = []
    try:
        variants += [_Variant("official off", True, ALWAYS_OFF, enrich=False),
                     _Variant("official off+wrap", True, GenAIRecordingSampler(ALWAYS_OFF))]
    except Exception as exc:
        notes.append(f"official: skipped ({type(exc).__name__}: {exc})")
    by_name = {v.name: v for v in variants}
    for variant in variants:  # warm-up
        variant.instrument()
        for _ in range(5):
            chat()
        variant.uninstrument()

    def measure(name: str, op: str) -> float:
        variant = by_name[name]
        variant.instrument()
        try:
            return block(chat, calls)
        finally:
            variant.uninstrument()

    try:
        raw, _floor = interleave(rounds, list(by_name), ["chat"], measure, calls, "sampling")
    finally:
        for variant in variants:
            variant.shutdown()
    base = raw["sdk"]["chat"]
    added = {name: paired(raw[name]["chat"], base) for name in by_name if name != "sdk"}
    on = added["tripwire on"]["median"]
    return {"added_us": added, "notes": notes,
            "ratio_to_on": {name: round(s["median"] / on, 2) if on else None
                            for name, s in added.items()}}


def print_sampling(result: dict[str, Any]) -> None:
    print("\n== sampling: one chat call, µs added over the bare SDK (CPU time, median "
          "[p10, p90] of rounds)")
    print(f"{'variant':<24}{'added µs':>12}{'p10':>10}{'p90':>10}{'× tripwire on':>16}")
    for name, s in result["added_us"].items():
        ratio = result["ratio_to_on"][name]
        print(f"{name:<24}{s['median']:>12.1f}{s['p10']:>10.1f}{s['p90']:>10.1f}"
              f"{ratio if ratio is not None else '-':>16}")
    for note in result["notes"]:
        print("  " + note)
