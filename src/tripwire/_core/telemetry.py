"""Tracer and the GenAI semconv metric instruments, created once per instrumentor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, get_meter
from opentelemetry.trace import Tracer, TracerProvider, get_tracer

from tripwire import semconv
from tripwire.version import __version__


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer
    meter: Meter
    duration: Histogram
    token_usage: Histogram
    time_to_first_chunk: Histogram
    retries: Counter


def make_telemetry(
    scope: str,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Telemetry:
    tracer = get_tracer(scope, __version__, tracer_provider, schema_url=semconv.SCHEMA_URL)
    meter = get_meter(scope, __version__, meter_provider, schema_url=semconv.SCHEMA_URL)
    return Telemetry(
        tracer=tracer,
        meter=meter,
        duration=_histogram(
            meter,
            semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
            "s",
            "GenAI operation duration",
            semconv.DURATION_BUCKETS,
        ),
        token_usage=_histogram(
            meter,
            semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
            "{token}",
            "Number of input and output tokens used",
            semconv.TOKEN_USAGE_BUCKETS,
        ),
        time_to_first_chunk=_histogram(
            meter,
            semconv.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
            "s",
            "Time to receive the first chunk of a streamed response",
            semconv.DURATION_BUCKETS,
        ),
        retries=meter.create_counter(
            semconv.METRIC_RETRIES,
            unit="{retry}",
            description="Failed attempts the provider SDK retried inside one operation",
        ),
    )


def _histogram(
    meter: Meter, name: str, unit: str, description: str, buckets: tuple[Any, ...]
) -> Histogram:
    try:
        return meter.create_histogram(
            name,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=[float(b) for b in buckets],
        )
    except TypeError:  # opentelemetry-api older than 1.23 has no advisory parameter
        return meter.create_histogram(name, unit=unit, description=description)
