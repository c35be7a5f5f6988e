"""Every test here starts from default settings (fixtures in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_settings(default_settings):
    return default_settings
