"""Settings: every invalid value names the setting and the accepted values."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tripwire import ConfigError
from tripwire.cli import settings_table
from tripwire.runtime import get_settings, set_settings
from tripwire.settings import _SPECS, BudgetMode, ContentCapture, load_settings

INVALID = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe",
    "TRIPWIRE_CONTENT_MAX_LENGTH": "-3",
    "TRIPWIRE_CONTENT_REDACTION": "email,nosuch",
    "TRIPWIRE_PRICES_FILE": "/nonexistent/prices.yaml",
    "TRIPWIRE_BUDGETS_FILE": "/nonexistent/budgets.yaml",
    "TRIPWIRE_BUDGET_TRACE_USD": "lots",
    "TRIPWIRE_BUDGET_TRACE_TOKENS": "0",
    "TRIPWIRE_BUDGET_AGENT_RUN_USD": "-0.5",
    "TRIPWIRE_BUDGET_MODE": "block",
    "TRIPWIRE_BUDGET_WARN_RATIO": "1.5",
    "TRIPWIRE_BUDGET_OUTPUT_ESTIMATE": "0",
    "TRIPWIRE_BUDGET_STORE": "http://localhost:6379",
    "TRIPWIRE_BUDGET_STORE_FAILURE": "maybe",
    "TRIPWIRE_PREFERRED_INSTRUMENTOR": "both",
    "TRIPWIRE_BUDGET_STORE_NAMESPACE": "two words",
    "TRIPWIRE_BUDGET_STORE_TIMEOUT_MS": "0",
    "TRIPWIRE_BUDGET_RESERVATION_TTL_SECONDS": "-1",
    "TRIPWIRE_CONTEXT_WINDOW_WARNING": "0",
    "TRIPWIRE_TOOL_LOOP_THRESHOLD": "two",
    "TRIPWIRE_AGENT_MAX_STEPS": "0",
    "TRIPWIRE_RETRIEVAL_MIN_SIMILARITY": "-1",
    "TRIPWIRE_RETRIEVAL_MAX_DISTANCE": "nan",
    "TRIPWIRE_REFUSAL_TEXT_PATTERNS": "perhaps",
    "TRIPWIRE_STATE_MAX_ENTRIES": "1e3x",
    "TRIPWIRE_STATE_TTL_SECONDS": "-5",
    "TRIPWIRE_DISABLED_ENRICHERS": "cost,teleport",
}


def test_every_variable_has_an_invalid_case() -> None:
    free_form = {"TRIPWIRE_FEATURE", "TRIPWIRE_HASH_SALT"}  # any string is valid
    assert {s.env for s in _SPECS if s.env and s.env not in free_form} == set(INVALID)


@pytest.mark.parametrize("variable", sorted(INVALID))
def test_invalid_value_names_setting_and_accepted_values(variable: str) -> None:
    spec = next(s for s in _SPECS if s.env == variable)
    with pytest.raises(ConfigError) as info:
        load_settings({variable: INVALID[variable]})
    message = str(info.value)
    assert variable in message
    assert spec.accepted in message
    assert info.value.setting == variable


def test_non_strict_collects_errors_and_keeps_defaults() -> None:
    errors: list[ConfigError] = []
    settings = load_settings(
        {"TRIPWIRE_BUDGET_MODE": "block", "TRIPWIRE_TOOL_LOOP_THRESHOLD": "5"},
        strict=False, errors=errors,
    )
    assert [e.setting for e in errors] == ["TRIPWIRE_BUDGET_MODE"]
    assert settings.budget_mode is BudgetMode.FLAG
    assert settings.tool_loop_threshold == 5


def test_environment_errors_are_logged_once_at_error(monkeypatch, caplog) -> None:
    monkeypatch.setenv("TRIPWIRE_BUDGET_MODE", "block")
    set_settings(None)
    with caplog.at_level(logging.ERROR, logger="tripwire"):
        settings = get_settings()
        get_settings()
    assert settings.budget_mode is BudgetMode.FLAG
    errors = [r for r in caplog.records if "TRIPWIRE_BUDGET_MODE" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("true", ContentCapture.SPAN_ONLY), ("False", ContentCapture.NO_CONTENT),
     ("span_and_event", ContentCapture.SPAN_AND_EVENT), ("EVENT_ONLY", ContentCapture.EVENT_ONLY)],
)
def test_capture_content_values(raw: str, mode: ContentCapture) -> None:
    assert load_settings({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": raw}).capture_content is mode


def test_defaults_keep_content_off() -> None:
    assert load_settings({}).capture_content is ContentCapture.NO_CONTENT


def test_overrides_validate_unknown_and_bad_names() -> None:
    with pytest.raises(ConfigError, match="a known setting"):
        load_settings({}, {"no_such_setting": 1})
    with pytest.raises(ConfigError, match="TRIPWIRE_BUDGET_MODE"):
        load_settings({}, {"budget_mode": "loud"})
    assert load_settings({}, {"budget_mode": "enforce"}).budget_mode is BudgetMode.ENFORCE


def test_readme_settings_table_is_current() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert settings_table() in readme
