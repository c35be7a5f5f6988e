"""Shared test configuration.

The ``tripwire`` pytest plugin (fixtures ``span_exporter``, ``tracer_provider``,
``metric_reader``, ``meter_provider``, ``fake_openai``) is loaded through its ``pytest11``
entry point; load it explicitly only when entry-point auto-loading is disabled, since
registering it twice is an error.
"""

import os

if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins = ["tripwire.testing.pytest_plugin"]


import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tripwire.runtime import set_settings
from tripwire.settings import ContentCapture, Settings


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
