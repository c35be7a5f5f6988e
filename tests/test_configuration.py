"""tripwire.configure(): validation, wrapping an existing provider, building from OTEL_*."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from processors.otlp_receiver import OTLPReceiver
from tripwire import semconv
from tripwire.configuration import configure
from tripwire.errors import ConfigError
from tripwire.runtime import get_settings
from tripwire.settings import BudgetMode


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"budget_mode": "strict"}, ("TRIPWIRE_BUDGET_MODE", "flag, enforce")),
    ({"budget_trace_usd": -1}, ("TRIPWIRE_BUDGET_TRACE_USD", "positive")),
    ({"context_window_warning": 2}, ("TRIPWIRE_CONTEXT_WINDOW_WARNING", "(0, 1]")),
    ({"disabled_enrichers": "cost,nope"}, ("TRIPWIRE_DISABLED_ENRICHERS", "tool_loop")),
    ({"no_such_setting": 1}, ("no_such_setting", "budget_mode")),
])
def test_invalid_settings_raise_config_error(kwargs: dict, names: tuple[str, str]) -> None:
    tp = TracerProvider()
    with pytest.raises(ConfigError) as info:
        configure(tracer_provider=tp, span_processors=[], **kwargs)
    for name in names:
        assert name in str(info.value)
    assert get_settings().budget_mode is BudgetMode.FLAG  # nothing installed


def test_bad_prices_and_budgets_files_raise(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": [{"match": "x", "input_per_mtok": -1}]}')
    with pytest.raises(ConfigError, match=r"TRIPWIRE_PRICES_FILE.*input_per_mtok"):
        configure(tracer_provider=TracerProvider(), span_processors=[], prices_file=str(prices))
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - name: a\n    scope: galaxy\n    usd: 1\n")
    with pytest.raises(ConfigError, match=r"TRIPWIRE_BUDGETS_FILE.*scope"):
        configure(tracer_provider=TracerProvider(), span_processors=[],
                  budgets_file=str(budgets))
    with pytest.raises(ConfigError, match="TRIPWIRE_PRICES_FILE"):
        configure(tracer_provider=TracerProvider(), span_processors=[],
                  prices_file=str(tmp_path / "missing.json"))


def test_wraps_processors_of_an_existing_provider() -> None:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tp = TracerProvider()
    returned = configure(tracer_provider=tp, span_processors=[SimpleSpanProcessor(exporter)],
                         meter_provider=MeterProvider(metric_readers=[reader]),
                         budget_trace_tokens=500, feature="checkout")
    assert returned is tp
    assert get_settings().budget_trace_tokens == 500
    with tp.get_tracer("foreign").start_as_current_span("chat gpt-4o", attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100}):
        pass
    [span] = exporter.get_finished_spans()
    assert span.attributes[semconv.TRIPWIRE_COST_USD] == pytest.approx(0.0035)
    assert span.attributes[semconv.TRIPWIRE_BUDGET_EXCEEDED] is True
    assert span.attributes[semconv.TRIPWIRE_FEATURE] == "checkout"
    names = {m.name for rm in reader.get_metrics_data().resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert {semconv.METRIC_COST, semconv.METRIC_BUDGET_VIOLATIONS} <= names
    # a second call only updates settings: no second set of processors
    assert configure(budget_trace_tokens=900) is tp
    assert get_settings().budget_trace_tokens == 900


SCRIPT = textwrap.dedent("""
    import tripwire.configuration as c
    from opentelemetry import trace
    provider = c.configure(budget_trace_usd=1.0)
    assert provider is trace.get_tracer_provider(), provider
    with trace.get_tracer("foreign").start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100}):
        pass
    provider.shutdown()
    print("ok")
""")


def test_builds_providers_from_otel_environment(tmp_path: Path) -> None:
    """No provider yet: OTEL_* drive the SDK's start-up (OTLP/HTTP when unset)."""
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    with OTLPReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRIPWIRE_"))}
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert receiver.got_spans.wait(10), done.stderr
    [span] = receiver.spans
    assert span["attributes"]["tripwire.cost.usd"] == pytest.approx(0.0035)
