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

from tripwire.settings import ContentCapture, Settings, set_settings


@pytest.fixture
def default_settings() -> Iterator[Settings]:
    """Default settings (environment ignored) for this test, reset afterwards."""
    settings = Settings()
    set_settings(settings)
    yield settings
    set_settings(None)


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
