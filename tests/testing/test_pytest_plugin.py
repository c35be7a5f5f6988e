"""The tripwire pytest plugin is opt-in: a foreign project's pytest session (tripwire-otel
installed, nothing enabled) neither loads it nor sees its fixtures, and its own fixture
called ``span_exporter`` is the one it gets; one opt-in line loads the ``tripwire_…`` fixtures.

Each case runs a real pytest in a subprocess with this environment's Python, in a temporary
project directory, exactly as another project would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = "tripwire.testing.pytest_plugin"

FOREIGN_CONFTEST = '''
import pytest


@pytest.fixture
def span_exporter():
    return "the project's own span_exporter"
'''

FOREIGN_TEST = f'''
import sys


def test_own_fixture_and_no_tripwire_plugin(span_exporter, request):
    assert span_exporter == "the project's own span_exporter"
    assert not request.config.pluginmanager.has_plugin("{PLUGIN}")
    assert "{PLUGIN}" not in sys.modules
    assert "tripwire" not in sys.modules  # not even imported
'''

OPT_IN_TEST = f'''
from tripwire.testing import chat_reply, find_span
from tripwire.instrumentation.openai import OpenAIInstrumentor


def test_plugin_fixtures(request, tripwire_tracer_provider, tripwire_meter_provider,
                         tripwire_span_exporter, tripwire_fake_openai):
    assert request.config.pluginmanager.has_plugin("{PLUGIN}")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tripwire_tracer_provider,
                            meter_provider=tripwire_meter_provider)
    try:
        tripwire_fake_openai.enqueue(chat_reply("hi", usage=(3, 1)))
        tripwire_fake_openai.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": "hello there you"}}])
    finally:
        instrumentor.uninstrument()
    span = find_span(tripwire_span_exporter, "chat gpt-4o-mini")
    assert span.attributes["gen_ai.usage.input_tokens"] == 3
'''


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "OTEL_", "TRIPWIRE_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300)


def _project(root: Path, conftest: str, test: str) -> Path:
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (root / "conftest.py").write_text(conftest)
    (root / "test_app.py").write_text(test)
    return root


def test_foreign_session_does_not_load_the_plugin(tmp_path: Path) -> None:
    project = _project(tmp_path, FOREIGN_CONFTEST, FOREIGN_TEST)
    result = _pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    listed = _pytest(project, "--fixtures")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "tripwire_" not in listed.stdout


def test_command_line_opt_in_loads_the_fixtures(tmp_path: Path) -> None:
    project = _project(tmp_path, "", OPT_IN_TEST)
    result = _pytest(project, "-p", PLUGIN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    without = _pytest(project)
    assert without.returncode != 0 and "fixture 'tripwire_tracer_provider' not found" in without.stdout


def test_conftest_opt_in_loads_the_fixtures(tmp_path: Path) -> None:
    project = _project(tmp_path, f"pytest_plugins = [{PLUGIN!r}]\n", OPT_IN_TEST)
    result = _pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
