"""The suite's own guard (tests/conftest.py ``_no_leaks``): a test that leaves
``os.environ`` changed fails; monkeypatched changes are fine; tripwire is reset after each
test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CASES = '''
import os

from tripwire.runtime import get_settings, replace_settings
from tripwire.settings import ContentCapture


def test_leaks():
    os.environ["TRIPWIRE_LEAK_CHECK"] = "1"


def test_monkeypatched_is_fine(monkeypatch):
    monkeypatch.setenv("TRIPWIRE_LEAK_CHECK_MP", "1")


def test_restored_is_fine():
    os.environ["TRIPWIRE_LEAK_CHECK_OK"] = "1"
    del os.environ["TRIPWIRE_LEAK_CHECK_OK"]


def test_a_changes_settings():
    replace_settings(capture_content=ContentCapture.SPAN_ONLY)


def test_b_sees_defaults_again():
    assert get_settings().capture_content is ContentCapture.NO_CONTENT
    assert "TRIPWIRE_LEAK_CHECK" not in os.environ
'''


def test_leaked_environment_fails_and_settings_are_reset(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.re_match_lines([r".*Failed: the test changed os.environ without restoring it: "
                                  r"\['TRIPWIRE_LEAK_CHECK'\]$"])
