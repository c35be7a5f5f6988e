"""Zero code: ``opentelemetry-instrument python app.py`` exports enriched spans over OTLP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from processors.otlp_receiver import OTLPReceiver

# A "foreign instrumentor": plain tracer spans with GenAI semconv attributes.
APP = textwrap.dedent("""
    import os
    import sys
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("foreign.instrumentor")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/chat")
        for model, inp, out in (("gpt-4o", 1000, 100), ("gpt-4o-mini", 2000, 50),
                                ("private-model", 10, 10)):
            with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT,
                                              attributes={"gen_ai.operation.name": "chat",
                                                          "gen_ai.provider.name": "openai",
                                                          "gen_ai.request.model": model}) as s:
                s.set_attribute("gen_ai.usage.input_tokens", inp)
                s.set_attribute("gen_ai.usage.output_tokens", out)
    # One write: print() writes its arguments one by one, and the batch export thread's
    # console tree (one write per trace) could land between them.
    sys.stdout.write(f"provider: {type(trace.get_tracer_provider()).__name__}\\n")
""")


def _instrument_command() -> list[str]:
    exe = Path(sys.executable).with_name("opentelemetry-instrument")
    found = str(exe) if exe.exists() else shutil.which("opentelemetry-instrument")
    assert found, "opentelemetry-instrument is not installed (opentelemetry-instrumentation)"
    return [found]


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TRIPWIRE_"))}
    env.update({
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_PYTHON_DISTRO": "tripwire",
        "OTEL_PYTHON_CONFIGURATOR": "tripwire",
        "OTEL_SERVICE_NAME": "zero-code-test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "100000",
    })
    env.update(extra)
    return env


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    return subprocess.run([*_instrument_command(), sys.executable, str(app)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_opentelemetry_instrument_exports_enriched_spans(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        done = _run(tmp_path, _env(receiver.endpoint, TRIPWIRE_BUDGET_TRACE_USD="0.0036"))
        assert done.returncode == 0, done.stderr
        assert "provider: TracerProvider" in done.stdout
        assert receiver.got_spans.wait(10), done.stderr
    spans = {s["name"]: s for s in receiver.spans}
    assert set(spans) == {"POST /chat", "chat gpt-4o", "chat gpt-4o-mini", "chat private-model"}
    gpt4o = spans["chat gpt-4o"]["attributes"]
    assert gpt4o["tripwire.cost.usd"] == pytest.approx(0.0035)
    assert gpt4o["tripwire.cost.source"] == "price_table"
    assert gpt4o["tripwire.feature"] == "/chat"
    assert spans["chat private-model"]["attributes"]["tripwire.cost.unpriced"] is True
    mini = spans["chat gpt-4o-mini"]["attributes"]
    assert gpt4o["tripwire.budget.warning"] is True  # 0.0035 of 0.0036
    assert "tripwire.budget.warning" in spans["chat gpt-4o"]["events"]
    assert mini["tripwire.budget.exceeded"] is True  # 0.0035 + 0.00033
    assert "tripwire.budget.exceeded" in spans["chat gpt-4o-mini"]["events"]
    root = spans["POST /chat"]["attributes"]
    assert root["tripwire.trace.llm_calls"] == 3
    assert root["tripwire.trace.cost.usd"] == pytest.approx(0.0035 + 0.00033)
    assert root["tripwire.budget.exceeded"] is True
    assert "tripwire.cost" in receiver.metric_names


def test_invalid_setting_is_logged_and_app_still_starts(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        done = _run(tmp_path, _env(receiver.endpoint, TRIPWIRE_BUDGET_MODE="strict",
                                   TRIPWIRE_PRICES_FILE=str(tmp_path / "missing.json")))
        assert done.returncode == 0, done.stderr
        assert receiver.got_spans.wait(10), done.stderr
    assert "TRIPWIRE_BUDGET_MODE" in done.stderr and "flag, enforce" in done.stderr
    assert "TRIPWIRE_PRICES_FILE" in done.stderr
    spans = {s["name"]: s for s in receiver.spans}
    assert spans["chat gpt-4o"]["attributes"]["tripwire.cost.usd"] == pytest.approx(0.0035)


def test_resource_names_tripwire_as_the_distro(tmp_path: Path) -> None:
    from tripwire.version import __version__

    with OTLPReceiver() as receiver:
        done = _run(tmp_path, _env(receiver.endpoint))
        assert done.returncode == 0, done.stderr
        assert receiver.got_spans.wait(10), done.stderr
    resource = receiver.spans[0]["resource"]
    assert resource["telemetry.distro.name"] == "tripwire-otel"
    assert resource["telemetry.distro.version"] == __version__
    assert resource["service.name"] == "zero-code-test"


def test_configure_names_tripwire_as_the_distro(tmp_path: Path) -> None:
    # tripwire.configure() building the SDK from OTEL_* is tripwire's set-up too.
    app = tmp_path / "configured.py"
    app.write_text(textwrap.dedent("""
        import tripwire
        provider = tripwire.configure()
        attributes = provider.resource.attributes
        print(attributes["telemetry.distro.name"], attributes["telemetry.distro.version"])
    """))
    env = _env("http://127.0.0.1:9", OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
    done = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from tripwire.version import __version__

    assert done.stdout.split() == ["tripwire-otel", __version__]


def test_tripwire_console_exporter_prints_the_trace_tree(tmp_path: Path) -> None:
    env = _env("http://127.0.0.1:9", OTEL_TRACES_EXPORTER="tripwire_console",
               OTEL_METRICS_EXPORTER="none", PYTHONIOENCODING="utf-8")
    done = _run(tmp_path, env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    root = next(i for i, line in enumerate(lines) if line.startswith("POST /chat  "))
    # the root, then its three LLM calls as branches, enriched (cost, request total)
    assert "request total $0.003830 over 3 LLM calls" in lines[root]
    assert lines[root + 1].startswith("├─ chat gpt-4o  ")
    assert "cost $0.003500" in lines[root + 1]
    assert lines[root + 2].startswith("├─ chat gpt-4o-mini  ")
    assert lines[root + 3].startswith("└─ chat private-model  ")
    assert "cost UNPRICED" in lines[root + 3]
