"""``tripwire check`` catches the set-up mistakes that make an application export nothing (or
less than meant), run as a user runs it: a subprocess with the environment under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from tripwire._core import environment
from tripwire._core.environment import Severity, check_environment


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRIPWIRE_"))}
    env.update(extra)
    return env


def _check(*args: str, env: dict[str, str] | None = None,
           **variables: str) -> subprocess.CompletedProcess[str]:
    run_env = _clean_env(**variables) if env is None else env
    run_env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "tripwire.cli", "check", *args], env=run_env,
                          capture_output=True, text=True, timeout=120)


def _line(done: subprocess.CompletedProcess[str], start: str) -> str:
    """The one output line that starts with ``start`` (marker and subject)."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(start)]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


# The official OpenAI instrumentation (installed for the tests) instruments openai, as
# tripwire_openai does: disabling it leaves only the findings a test is about.
NO_DUPLICATE = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai"}


def test_clean_environment_passes_even_strict() -> None:
    done = _check("--strict", **NO_DUPLICATE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [line for line in done.stdout.splitlines() if line.startswith(("✗", "!"))]
    assert _line(done, "✓ traces:").endswith(
        "exported by otlp_proto_http (opentelemetry-exporter-otlp-proto-http) to "
        "http://localhost:4318/v1/traces (HTTP/protobuf)")
    assert _line(done, "✓ settings:") == "✓ settings: content capture NO_CONTENT, budget mode flag"
    assert done.stdout.splitlines()[-1] == "tripwire check: ok"


def test_grpc_protocol_without_an_importable_grpc_exporter(tmp_path: Path) -> None:
    # The exporter package cannot be imported (as when it is not installed, or its grpcio is
    # broken): the SDK's set-up then fails and nothing is exported.
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys

        class BlockGrpcExporter:
            def find_spec(self, name, path=None, target=None):
                if name.startswith("opentelemetry.exporter.otlp.proto.grpc"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, BlockGrpcExporter())
    """))
    env = _clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="grpc", PYTHONPATH=str(tmp_path), **NO_DUPLICATE)
    done = _check(env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    line = _line(done, "✗ OTEL_EXPORTER_OTLP_PROTOCOL=grpc:")
    assert "traces and metrics exporter 'otlp_proto_grpc'" in line  # one line, one cause
    assert "cannot be imported" in line
    assert "nothing is exported" in line
    assert line.endswith("→ reinstall opentelemetry-exporter-otlp-proto-grpc: "
                         "pip install 'tripwire-otel[otlp-grpc]'")
    # the same protocol with the exporter importable is fine
    assert _check(OTEL_EXPORTER_OTLP_PROTOCOL="grpc", **NO_DUPLICATE).returncode == 0


def test_grpc_exporter_not_installed_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = environment.installed_entry_points

    def without_grpc(group: str) -> list[EntryPoint]:
        return [ep for ep in real(group) if ep.name != "otlp_proto_grpc"]

    monkeypatch.setattr(environment, "installed_entry_points", without_grpc)
    findings = check_environment(_clean_env(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc"))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert len(errors) == 1, findings
    assert errors[0].subject == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"
    assert "no traces exporter 'otlp_proto_grpc' (from opentelemetry-exporter-otlp-proto-grpc)" \
        in errors[0].message
    assert errors[0].fix == "pip install 'tripwire-otel[otlp-grpc]'"


def test_unknown_exporter_name() -> None:
    done = _check(OTEL_TRACES_EXPORTER="bogus", **NO_DUPLICATE)
    assert done.returncode == 1
    line = _line(done, "✗ OTEL_TRACES_EXPORTER=bogus:")
    assert "no traces exporter 'bogus' is installed" in line
    assert "otlp_proto_http" in line and "tripwire_console" in line  # what can be used instead
    assert done.stdout.splitlines()[-1] == "tripwire check: 1 error, 0 warnings"


def test_unsupported_protocol() -> None:
    done = _check(OTEL_EXPORTER_OTLP_PROTOCOL="http/json", **NO_DUPLICATE)
    assert done.returncode == 1
    assert "use grpc or http/protobuf" in _line(done, "✗ OTEL_EXPORTER_OTLP_PROTOCOL=http/json:")


def test_unknown_sampler() -> None:
    done = _check(OTEL_TRACES_SAMPLER="nope", **NO_DUPLICATE)
    assert done.returncode == 1
    line = _line(done, "✗ OTEL_TRACES_SAMPLER=nope:")
    assert "no sampler of that name" in line and "parentbased_always_on" in line
    assert "one of: always_off, always_on," in line


def test_misspelt_sampler_gets_a_suggestion() -> None:
    done = _check(OTEL_TRACES_SAMPLER="parentbased_traceidration", **NO_DUPLICATE)
    assert "did you mean parentbased_traceidratio?" in _line(done, "✗ OTEL_TRACES_SAMPLER=")


def test_misspelt_tripwire_setting_gets_a_did_you_mean() -> None:
    done = _check(TRIPWIRE_BUDGTE_TRACE_USD="0.25", **NO_DUPLICATE)
    assert done.returncode == 1
    assert _line(done, "✗ TRIPWIRE_BUDGTE_TRACE_USD:") == (
        "✗ TRIPWIRE_BUDGTE_TRACE_USD: unknown setting, ignored "
        "→ did you mean TRIPWIRE_BUDGET_TRACE_USD?")


def test_unrelated_tripwire_name_is_only_a_warning() -> None:
    done = _check(TRIPWIRE_SOMETHING_OF_MY_APP="1", **NO_DUPLICATE)
    assert done.returncode == 0
    assert _line(done, "! TRIPWIRE_SOMETHING_OF_MY_APP:")
    assert _check("--strict", TRIPWIRE_SOMETHING_OF_MY_APP="1", **NO_DUPLICATE).returncode == 1


def test_misspelt_otel_variable_gets_a_did_you_mean() -> None:
    done = _check(OTEL_TRACE_EXPORTER="console", **NO_DUPLICATE)
    assert "did you mean OTEL_TRACES_EXPORTER?" in _line(done, "! OTEL_TRACE_EXPORTER:")


def test_invalid_value_of_a_setting() -> None:
    done = _check(TRIPWIRE_BUDGET_MODE="strict", **NO_DUPLICATE)
    assert done.returncode == 1
    assert "expected one of flag, enforce" in _line(done, "✗ TRIPWIRE_BUDGET_MODE:")


def test_malformed_prices_and_budgets_files(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models: [gpt-4o: {input: 1\n")  # unclosed flow sequence
    budgets = tmp_path / "budgets.json"
    budgets.write_text('{"budgets": [{"name": "b", "scope": "global", "usd": -1}]}')
    done = _check(TRIPWIRE_PRICES_FILE=str(prices), TRIPWIRE_BUDGETS_FILE=str(budgets),
                  **NO_DUPLICATE)
    assert done.returncode == 1
    assert "YAML" in _line(done, f"✗ TRIPWIRE_PRICES_FILE ({prices}):")
    assert _line(done, "✗ TRIPWIRE_BUDGETS_FILE")
    assert "✓ settings:" not in done.stdout


def test_valid_files_are_reported_loaded(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.json"
    budgets.write_text('{"budgets": [{"name": "b", "scope": "global", "usd": 1}]}')
    done = _check(TRIPWIRE_BUDGETS_FILE=str(budgets), TRIPWIRE_BUDGET_TRACE_USD="0.25",
                  **NO_DUPLICATE)
    assert done.returncode == 0, done.stdout
    assert _line(done, "✓ settings:").endswith(
        f"budget per trace $0.25, budgets file {budgets} loaded")


@pytest.mark.parametrize(("variables", "subject", "expected"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:43x7"},
     "✗ OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:43x7:", "port is not a number"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
     "✗ OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318:", "no http:// or https:// scheme"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector:4318/v1/traces"},
     "✗ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ftp://collector:4318/v1/traces:",
     "scheme 'ftp' is not http or https"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://:4318"},
     "✗ OTEL_EXPORTER_OTLP_ENDPOINT=http://:4318:", "no host"),
])
def test_malformed_endpoint(variables: dict[str, str], subject: str, expected: str) -> None:
    done = _check(**variables, **NO_DUPLICATE)
    assert done.returncode == 1, done.stdout
    assert expected in _line(done, subject)


@pytest.mark.parametrize(("variables", "subject", "expected"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"},
     "! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317:",
     "port 4317 is the OTLP/gRPC port, but the exporter sends OTLP/HTTP"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"},
     "! OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://collector:4318:",
     "posts to this URL as it is, without adding /v1/traces"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector"},
     "! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:", "no port: http means port 80"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
     "! OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317:", "connects with TLS"),
])
def test_endpoint_that_probably_misses_the_collector(variables: dict[str, str], subject: str,
                                                      expected: str) -> None:
    done = _check(**variables, **NO_DUPLICATE)
    assert done.returncode == 0, done.stdout
    assert expected in _line(done, subject)
    assert _check("--strict", **variables, **NO_DUPLICATE).returncode == 1


def test_second_genai_instrumentor_is_settled_by_tripwires_set_up() -> None:
    # opentelemetry-instrumentation-openai-v2 is installed next to tripwire: tripwire's
    # distro and configurator disable it (tripwire.coexistence), and the check says so.
    done = _check("--strict")
    assert done.returncode == 0, done.stdout
    line = _line(done, "✓ instrumentors tripwire_openai + openai:")
    assert "openai is also instrumented by openai (opentelemetry-instrumentation-openai-v2)" \
        in line
    assert "tripwire's set-up disables openai and keeps tripwire_openai" in line
    other = _check(TRIPWIRE_PREFERRED_INSTRUMENTOR="other")
    assert "disables tripwire_openai and keeps openai" in _line(other, "✓ instrumentors")


def test_second_genai_instrumentor_without_tripwires_set_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = environment.installed_entry_points
    vendor = {
        "opentelemetry_distro": EntryPoint("vendor", "vendor_otel:Distro", "opentelemetry_distro"),
        "opentelemetry_configurator": EntryPoint("vendor", "vendor_otel:Configurator",
                                                 "opentelemetry_configurator"),
    }

    def with_vendor(group: str) -> list[EntryPoint]:
        return [vendor[group], *real(group)] if group in vendor else real(group)

    monkeypatch.setattr(environment, "installed_entry_points", with_vendor)
    findings = check_environment(_clean_env(OTEL_PYTHON_DISTRO="vendor",
                                            OTEL_PYTHON_CONFIGURATOR="vendor"))
    twice = next(f for f in findings if f.subject == "instrumentors tripwire_openai + openai")
    assert twice.severity is Severity.WARNING
    assert "each call gives two spans" in twice.message
    assert twice.fix.startswith("keep one: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai keeps")
    # the user's own choice settles it
    findings = check_environment(_clean_env(OTEL_PYTHON_DISTRO="vendor",
                                            OTEL_PYTHON_CONFIGURATOR="vendor",
                                            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai"))
    assert not [f for f in findings if f.subject.startswith("instrumentors")]


def test_ratio_sampler_hides_unsampled_spans_from_the_processor() -> None:
    done = _check(OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25",
                  **NO_DUPLICATE)
    assert done.returncode == 0
    line = _line(done, "! OTEL_TRACES_SAMPLER=parentbased_traceidratio:")
    assert "about 75% of traces are not sampled (not exported)" in line
    assert "tripwire's set-up wraps this sampler so that GenAI spans are still recorded" in line


def test_ratio_sampler_is_an_error_when_another_configurator_sets_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = environment.installed_entry_points
    vendor = EntryPoint("vendor", "vendor_otel:Configurator", "opentelemetry_configurator")

    def with_vendor(group: str) -> list[EntryPoint]:
        return [vendor, *real(group)] if group == vendor.group else real(group)

    monkeypatch.setattr(environment, "installed_entry_points", with_vendor)
    findings = check_environment(_clean_env(
        OTEL_PYTHON_CONFIGURATOR="vendor", OTEL_TRACES_SAMPLER="traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.1", **NO_DUPLICATE))
    sampler = next(f for f in findings if f.subject == "OTEL_TRACES_SAMPLER=traceidratio")
    assert sampler.severity is Severity.ERROR
    assert "never reach a span processor" in sampler.message
    assert "tripwire.sampling.wrap(sampler)" in sampler.fix


@pytest.mark.parametrize(("arg", "expected"), [
    ("1.5", "✗ OTEL_TRACES_SAMPLER_ARG=1.5: the sampler cannot be built"),
    ("ten", "✗ OTEL_TRACES_SAMPLER_ARG=ten: not a number: the SDK samples with ratio 1.0"),
])
def test_invalid_sampler_argument(arg: str, expected: str) -> None:
    done = _check(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG=arg,
                  **NO_DUPLICATE)
    assert done.returncode == 1
    assert _line(done, "✗ OTEL_TRACES_SAMPLER_ARG=").startswith(expected)


def test_configurator_named_but_not_installed() -> None:
    done = _check(OTEL_PYTHON_CONFIGURATOR="vendor", **NO_DUPLICATE)
    assert done.returncode == 1
    line = _line(done, "✗ OTEL_PYTHON_CONFIGURATOR=vendor:")
    assert "nothing is exported" in line and line.endswith("→ set OTEL_PYTHON_CONFIGURATOR=tripwire")


def test_another_distro_and_configurator_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = environment.installed_entry_points
    vendor = {
        "opentelemetry_distro": EntryPoint("vendor", "vendor_otel:Distro", "opentelemetry_distro"),
        "opentelemetry_configurator": EntryPoint("vendor", "vendor_otel:Configurator",
                                                 "opentelemetry_configurator"),
    }

    def with_vendor(group: str) -> list[EntryPoint]:
        return [vendor[group], *real(group)] if group in vendor else real(group)

    monkeypatch.setattr(environment, "installed_entry_points", with_vendor)
    findings = check_environment(_clean_env(**NO_DUPLICATE))
    warnings = {f.subject: f for f in findings if f.severity is Severity.WARNING}
    assert "spans are exported without tripwire's enrichment" in \
        warnings["configurator vendor"].message
    assert warnings["configurator vendor"].fix == "set OTEL_PYTHON_CONFIGURATOR=tripwire to use tripwire's"
    assert "distro vendor" in warnings
    # naming ours settles it; the other one being installed is then fine
    findings = check_environment(_clean_env(OTEL_PYTHON_DISTRO="tripwire",
                                            OTEL_PYTHON_CONFIGURATOR="tripwire", **NO_DUPLICATE))
    assert not [f for f in findings if f.severity is not Severity.INFO], findings


def test_json_output() -> None:
    done = _check("--json", OTEL_TRACES_EXPORTER="bogus", **NO_DUPLICATE)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["errors"] == 1 and report["warnings"] == 0
    first = report["findings"][0]
    assert first["severity"] == "error" and first["subject"] == "OTEL_TRACES_EXPORTER=bogus"
    assert {"message", "fix"} <= first.keys()
