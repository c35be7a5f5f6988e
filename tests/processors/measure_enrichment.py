"""µs per span added by EnrichingSpanProcessor: ``python tests/processors/measure_enrichment.py``.

A measurement, not a test (pytest does not collect it). Compares spans through a provider
with and without the processor: an enriched GenAI chat span (with SDK metrics, and with a
no-op meter) and a plain non-GenAI span (the pass-through path).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SDKMeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from tripwire.processors import EnrichingSpanProcessor

GENAI: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80,
    "gen_ai.response.finish_reasons": ("stop",),
}
PLAIN: dict[str, Any] = {"http.request.method": "GET"}


class Null(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


def per_span(attrs: dict[str, Any], meter: MeterProvider | None, wrap: bool,
             n: int = 20000) -> float:
    provider = TracerProvider()
    provider.add_span_processor(
        EnrichingSpanProcessor(Null(), meter_provider=meter) if wrap else Null())
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("root"):
        for _ in range(200):
            tracer.start_span("warm-up", attributes=attrs).end()
        start = time.process_time()
        for _ in range(n):
            tracer.start_span("chat gpt-4o", attributes=attrs).end()
        return (time.process_time() - start) / n * 1e6


def best(attrs: dict[str, Any], meter: MeterProvider | None, wrap: bool) -> float:
    return min(per_span(attrs, meter, wrap) for _ in range(3))


def main() -> None:
    sdk_meter = SDKMeterProvider(metric_readers=[InMemoryMetricReader()])
    for label, attrs, meter in (("GenAI span, SDK metrics", GENAI, sdk_meter),
                                ("GenAI span, no-op meter", GENAI, NoOpMeterProvider()),
                                ("plain span (pass-through)", PLAIN, sdk_meter)):
        base, wrapped = best(attrs, meter, False), best(attrs, meter, True)
        print(f"{label:28s} base {base:6.1f} us  enriched {wrapped:6.1f} us  "
              f"added {wrapped - base:6.1f} us/span")


if __name__ == "__main__":
    main()
