"""Fixtures for tool tests: settings reset, content capture, attribute helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tripwire.settings import ContentCapture, Settings, set_settings


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[Settings]:
    settings = Settings()
    set_settings(settings)
    yield settings
    set_settings(None)


@pytest.fixture
def capture() -> Settings:
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
