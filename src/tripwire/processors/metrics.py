"""The processors' own metric instruments (created once per processor)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, get_meter

from tripwire import semconv
from tripwire.version import __version__

SCOPE = "tripwire.processors"
TRIPWIRE_TOOL_CALL_ERROR_KIND = semconv.TRIPWIRE_TOOL_CALL_ERROR_KIND


@dataclass(frozen=True)
class Instruments:
    cost: Counter
    refusals: Counter
    budget_violations: Counter
    model_changes: Counter
    tool_call_errors: Counter
    context_window_utilization: Histogram


def make_instruments(meter_provider: MeterProvider | None = None) -> Instruments:
    # Without a provider, the global one: a proxy that follows set_meter_provider() later.
    meter: Meter = get_meter(SCOPE, __version__, meter_provider, schema_url=semconv.SCHEMA_URL)
    try:
        utilization = meter.create_histogram(
            semconv.METRIC_CONTEXT_WINDOW_UTILIZATION, unit="1",
            description="Share of the model's context window used by the request's input",
            explicit_bucket_boundaries_advisory=[float(b) for b in semconv.UTILIZATION_BUCKETS],
        )
    except TypeError:  # opentelemetry-api < 1.23 has no advisory parameter
        utilization = meter.create_histogram(
            semconv.METRIC_CONTEXT_WINDOW_UTILIZATION, unit="1",
            description="Share of the model's context window used by the request's input",
        )
    return Instruments(
        cost=meter.create_counter(semconv.METRIC_COST, unit="USD",
                                  description="Cost of GenAI operations in US dollars"),
        refusals=meter.create_counter(semconv.METRIC_REFUSALS, unit="{refusal}",
                                      description="Responses refused or filtered by the model"),
        budget_violations=meter.create_counter(
            semconv.METRIC_BUDGET_VIOLATIONS, unit="{violation}",
            description="Budgets crossed (one per crossing, per budget)"),
        model_changes=meter.create_counter(
            semconv.METRIC_MODEL_CHANGES, unit="{change}",
            description="Snapshot behind a requested model name changed"),
        tool_call_errors=meter.create_counter(
            semconv.METRIC_TOOL_CALL_ERRORS, unit="{error}",
            description="Unknown tools, invalid arguments, failed executions and loops"),
        context_window_utilization=utilization,
    )
