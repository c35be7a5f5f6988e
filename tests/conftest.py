"""Shared test configuration.

Loads the opt-in ``tripwire`` pytest plugin as a user would, and gives its ``tripwire_…``
fixtures the short names this suite uses (``span_exporter``, ``tracer_provider``,
``metric_reader``, ``meter_provider``, ``fake_openai``, …).
"""

import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tripwire.runtime import set_settings
from tripwire.settings import ContentCapture, Settings

pytest_plugins = ["tripwire.testing.pytest_plugin"]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # pytest's own, set per phase
    return env


@pytest.fixture(autouse=True)
def _no_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After every test: undo its ``monkeypatch`` changes, fail it if it changed
    ``os.environ`` any other way without restoring it, and forget everything tripwire keeps
    in the process (``tripwire.testing.reset()``: settings, state, price books, the budget
    gate, decorator providers, logged failures)."""
    before = _environment()
    yield
    monkeypatch.undo()  # the same instance the test used: its environment changes go first
    after = _environment()
    if after != before:
        os.environ.clear()
        os.environ.update(before, PYTEST_CURRENT_TEST=os.environ.get("PYTEST_CURRENT_TEST", ""))  # the next test starts clean even so
    from tripwire.testing import reset

    reset()
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        pytest.fail(f"the test changed os.environ without restoring it: {changed}")


@pytest.fixture
def default_settings() -> Settings:
    """Default settings (environment ignored) for this test (``_no_leaks`` resets them)."""
    settings = Settings()
    set_settings(settings)
    return settings


@pytest.fixture
def capture() -> Settings:
    """Content capture on (SPAN_ONLY) for this test."""
    settings = dataclasses.replace(Settings(), capture_content=ContentCapture.SPAN_ONLY)
    set_settings(settings)
    return settings


@pytest.fixture
def use_settings() -> Callable[..., Settings]:
    """Install ``Settings`` with the given changes for this test."""

    def install(**changes: Any) -> Settings:
        value = dataclasses.replace(Settings(), **changes)
        set_settings(value)
        return value

    return install


# Short names for the plugin's fixtures (same instances within a test).
@pytest.fixture
def span_exporter(tripwire_span_exporter: Any) -> Any:
    return tripwire_span_exporter


@pytest.fixture
def tracer_provider(tripwire_tracer_provider: Any) -> Any:
    return tripwire_tracer_provider


@pytest.fixture
def metric_reader(tripwire_metric_reader: Any) -> Any:
    return tripwire_metric_reader


@pytest.fixture
def meter_provider(tripwire_meter_provider: Any) -> Any:
    return tripwire_meter_provider


@pytest.fixture
def fake_openai(tripwire_fake_openai: Any) -> Any:
    return tripwire_fake_openai


@pytest.fixture
def fake_anthropic(tripwire_fake_anthropic: Any) -> Any:
    return tripwire_fake_anthropic


@pytest.fixture
def fake_gemini(tripwire_fake_gemini: Any) -> Any:
    return tripwire_fake_gemini


@pytest.fixture
def fake_bedrock(tripwire_fake_bedrock: Any) -> Any:
    return tripwire_fake_bedrock
