"""Honest version checks: every instrumentor checks its own library and version, also when
``opentelemetry-instrument`` tells it to skip the check, wraps nothing outside the supported
range or when the library is absent, and says why in one INFO line."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import pkgutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wrapt
from opentelemetry.instrumentation.dependencies import DependencyConflictError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

import tripwire.instrumentation
from processors.otlp_receiver import OTLPReceiver
from tripwire._core.instrumentor import TripwireInstrumentor
from tripwire.instrumentation.anthropic import AnthropicInstrumentor
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing import FakeAnthropicServer, FakeOpenAIServer

from .telemetry_env import TelemetryEnv, instrumented

# Every instrumentor package (each has a package.py with _instruments).
INSTRUMENTORS = tuple(sorted(
    module.name for module in pkgutil.iter_modules(tripwire.instrumentation.__path__)
    if module.ispkg))
TRIPWIRE_LOG = "tripwire"


def _is_wrapped(owner: Any, name: str) -> bool:
    return isinstance(owner.__dict__[name], wrapt.BaseObjectProxy)


def _fake_dist(site: Path, name: str, version: str) -> Path:
    """A ``{name}-{version}.dist-info`` in ``site``: what importlib.metadata (and so
    OpenTelemetry's dependency check) reports as installed when ``site`` comes first."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


@pytest.fixture
def old_anthropic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """anthropic 0.39.0 as far as package metadata says (the code is the installed SDK, so
    a wrapper put on in spite of the version would show)."""
    _fake_dist(tmp_path / "site", "anthropic", "0.39.0")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert importlib.metadata.version("anthropic") == "0.39.0"


def _messages() -> type:
    from anthropic.resources.messages import Messages

    return Messages


def _tripwire_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == TRIPWIRE_LOG]


# --- the instrumentor class ---------------------------------------------------------------

@pytest.mark.parametrize("flags", [{}, {"skip_dep_check": True},
                                   {"raise_exception_on_conflict": True}])
def test_unsupported_version_is_not_wrapped_and_says_why(
        old_anthropic: None, flags: dict[str, bool], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AnthropicInstrumentor()
    if flags:  # the auto-instrumentation loader's call: refused the way it understands
        with pytest.raises(DependencyConflictError):
            instrumentor.instrument(tracer_provider=provider, **flags)
    else:
        assert instrumentor.instrument(tracer_provider=provider) is None
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert not _is_wrapped(_messages(), "create")
    with FakeAnthropicServer() as server:
        server.client().messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                        messages=[{"role": "user", "content": "hi"}])
    assert exporter.get_finished_spans() == ()
    records = _tripwire_records(caplog)
    assert [r.levelno for r in records] == [logging.INFO]
    line = records[0].getMessage()
    assert "AnthropicInstrumentor instruments nothing" in line
    assert "anthropic 0.39.0 is installed" in line and "anthropic >= 0.40.0" in line
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_loader_logs_the_refusal_at_debug_only(old_anthropic: None,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    # opentelemetry-instrument logs a caught conflict itself (ERROR for a version conflict
    # in opentelemetry-instrumentation 0.66): the INFO line is already out, so it is DEBUG.
    with pytest.raises(DependencyConflictError) as raised:
        AnthropicInstrumentor().instrument(skip_dep_check=True)
    loader = logging.getLogger("test.loader")
    caplog.set_level(logging.DEBUG, logger="test.loader")
    raised.value.conflict._log(loader, "tripwire_anthropic")
    assert [(r.levelno, r.name) for r in caplog.records
            if r.name == "test.loader"] == [(logging.DEBUG, "test.loader")]
    assert "anthropic 0.39.0" in str(raised.value)


class _AbsentLibraryInstrumentor(TripwireInstrumentor):
    instruments = ("tripwire-test-no-such-library >= 1.0",)
    targets = (("json", "JSONEncoder", "encode", None),)  # would be wrapped if it got that far

    def _telemetry(self, kwargs: dict[str, Any]) -> Any:
        return None


def test_absent_library_is_not_wrapped_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    import json

    caplog.set_level(logging.INFO, logger=TRIPWIRE_LOG)
    with pytest.raises(DependencyConflictError):
        _AbsentLibraryInstrumentor().instrument(skip_dep_check=True)
    assert _AbsentLibraryInstrumentor().instrument() is None
    assert not _is_wrapped(json.JSONEncoder, "encode")
    lines = [r.getMessage() for r in _tripwire_records(caplog)]
    assert lines == [
        "tripwire: _AbsentLibraryInstrumentor instruments nothing: tripwire-test-no-such-library"
        " is not installed (supported: 'tripwire-test-no-such-library >= 1.0')"] * 2


def test_supported_version_is_wrapped_when_told_to_skip_the_check(
        caplog: pytest.LogCaptureFixture) -> None:
    from openai.resources.chat.completions import Completions

    caplog.set_level(logging.INFO, logger=TRIPWIRE_LOG)
    with instrumented(OpenAIInstrumentor) as parts, FakeOpenAIServer() as server:
        env = TelemetryEnv(**parts)
        env.instrumentor.uninstrument()
        env.instrumentor.instrument(tracer_provider=env.tracer_provider,
                                    meter_provider=env.meter_provider, skip_dep_check=True)
        assert _is_wrapped(Completions, "create")
        server.client().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert env.span().name == "chat gpt-4o"
    assert _tripwire_records(caplog) == []


def test_instruments_any_extra_names_every_instrumentors_library() -> None:
    """The distribution's ``instruments-any`` extra (what opentelemetry-instrument reads) is
    the union of the instrumentors' own ``_instruments``."""
    import importlib as il

    own = set()
    for name in INSTRUMENTORS:
        for spec in il.import_module(f"tripwire.instrumentation.{name}.package")._instruments:
            req = Requirement(spec)
            own.add((req.name, str(req.specifier)))
    extra = set()
    for spec in importlib.metadata.requires("tripwire-otel") or ():
        req = Requirement(spec)
        if req.marker is not None and req.marker.evaluate({"extra": "instruments-any"}):
            extra.add((req.name, str(req.specifier)))
    assert extra == own


# --- under opentelemetry-instrument ---------------------------------------------------------

APP = textwrap.dedent("""
    from anthropic.resources.messages import Messages
    from openai.resources.chat.completions import Completions
    from opentelemetry import trace

    from tripwire.testing import FakeAnthropicServer, FakeOpenAIServer

    print("anthropic wrapped:", type(Messages.__dict__["create"]).__name__)
    print("openai wrapped:", type(Completions.__dict__["create"]).__name__)
    with FakeAnthropicServer() as anthropic_server, FakeOpenAIServer() as openai_server:
        anthropic_server.client().messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        openai_server.client().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    trace.get_tracer_provider().force_flush()
""")

# Runs before the instrumentors load (``opentelemetry_pre_instrument``): the loader's and
# tripwire's log lines to stderr, tagged by level.
LOG_SETUP = textwrap.dedent("""
    import logging, sys

    def setup():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("LOG %(levelname)s %(name)s: %(message)s"))
        for name in ("opentelemetry.instrumentation", "tripwire"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
""")


def _top_level_entries(dist: importlib.metadata.Distribution) -> set[str]:
    return {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}


@pytest.fixture(scope="module")
def site_without_chromadb_and_with_old_anthropic(tmp_path_factory: pytest.TempPathFactory
                                                 ) -> Path:
    """A virtual environment that is this one, except that chromadb is not installed and
    anthropic's metadata says 0.39.0: every entry of this site-packages linked in, but
    chromadb's, and anthropic's dist-info replaced. Returns its python."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    site = root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    assert site.is_dir()
    ours = Path(sysconfig.get_paths()["purelib"])
    hidden = _top_level_entries(importlib.metadata.distribution("chromadb"))
    anthropic_info = {e for e in _top_level_entries(importlib.metadata.distribution("anthropic"))
                      if e.endswith(".dist-info")}
    for entry in ours.iterdir():
        if entry.name in hidden or entry.name in anthropic_info or entry.name == "__pycache__":
            continue
        (site / entry.name).symlink_to(entry)
    _fake_dist(site, "anthropic", "0.39.0")
    setup = _fake_dist(site, "tripwire_test_log_setup", "0.0.0")
    (setup / "entry_points.txt").write_text(
        "[opentelemetry_pre_instrument]\nlog_setup = tripwire_test_log_setup:setup\n")
    (site / "tripwire_test_log_setup.py").write_text(LOG_SETUP)
    return root / "bin" / "python"


@pytest.fixture(scope="module")
def run(site_without_chromadb_and_with_old_anthropic: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]]:
    python = str(site_without_chromadb_and_with_old_anthropic)
    cwd = tmp_path_factory.mktemp("app")
    (cwd / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TRIPWIRE_", "PYTHON"))}
    with OTLPReceiver() as receiver:
        env.update({
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_PYTHON_DISTRO": "tripwire", "OTEL_PYTHON_CONFIGURATOR": "tripwire",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        })
        # opentelemetry-instrument, run by that environment's python.
        launcher = ("import sys; from opentelemetry.instrumentation.auto_instrumentation "
                    "import run; sys.argv[0] = 'opentelemetry-instrument'; run()")
        done = subprocess.run([python, "-c", launcher, python, "app.py"], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        assert receiver.got_spans.wait(10), done.stderr
    yield done, receiver.spans


def test_auto_instrumentation_skips_an_unsupported_version(run: Any) -> None:
    done, spans = run
    log = done.stderr
    assert "anthropic wrapped: function" in done.stdout  # the real SDK, left alone
    assert "Instrumented tripwire_anthropic" not in log
    [line] = [line for line in log.splitlines() if "AnthropicInstrumentor" in line]
    assert line.startswith("LOG INFO tripwire: ")
    assert "anthropic 0.39.0 is installed" in line and "anthropic >= 0.40.0" in line
    assert "LOG ERROR" not in log and "LOG WARNING" not in log
    scopes = {s["scope"] for s in spans}
    assert "tripwire.instrumentation.anthropic" not in scopes


def test_auto_instrumentation_reports_only_libraries_it_instrumented(run: Any) -> None:
    done, _ = run
    log = done.stderr
    assert "Instrumented tripwire_chromadb" not in log
    [line] = [line for line in log.splitlines() if "ChromaInstrumentor" in line]
    assert line == ("LOG INFO tripwire: tripwire: ChromaInstrumentor instruments nothing: "
                    "chromadb is not installed (supported: 'chromadb >= 0.5.0')")
    for present in ("openai", "google_genai", "bedrock", "qdrant", "langchain", "mcp"):
        assert f"Instrumented tripwire_{present}" in log, present


def test_auto_instrumentation_still_wraps_a_supported_version(run: Any) -> None:
    done, spans = run
    assert "openai wrapped: FunctionWrapper" in done.stdout
    ours = [s for s in spans if s["scope"] == "tripwire.instrumentation.openai"]
    assert [s["name"] for s in ours] == ["chat gpt-4o"]
