"""Bad configuration, table-driven from the settings declarations (``settings._SPECS``).

``tests/core/test_settings.py`` checks one hand-picked invalid value per variable through
``load_settings``; ``tests/test_configuration.py`` a few through ``configure()``;
``tests/test_zero_code.py`` one under ``opentelemetry-instrument``. Here every declared
setting — a new one included, with no test change — is fed generic bad values; those its
parser rejects must give, through each entry point:

- ``tripwire.configure(**{name: value})``: a ``tripwire.ConfigError`` naming the setting
  (its variable) and the accepted values, and nothing installed;
- the ``TRIPWIRE_*`` variable read at start-up by the ``tripwire`` configurator: the same
  message logged at ERROR, the setting at its default (the feature off), the rest applied;
- ``opentelemetry-instrument`` in a subprocess with every setting bad at once: each message
  on stderr, the application runs and its spans are exported, enriched.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from processors.otlp_receiver import OTLPReceiver
from test_zero_code import APP, _env, _run
from tripwire import ConfigError, configuration
from tripwire import settings as settings_module
from tripwire.distro import install_settings_leniently
from tripwire.runtime import get_settings, set_settings
from tripwire.settings import _SPECS, Settings, load_settings

DEFAULTS = Settings()

# Generic bad values: whichever a setting's parser rejects are its invalid values.
TEXT_CANDIDATES = ["nonsense", "-1", "0", "1.5", "nan", "inf", "1e999", "maybe", "regex:(",
                   "email,nosuch", "cost,teleport", "/nonexistent/tripwire.json", "two words",
                   "BAD_FILE"]
OBJECT_CANDIDATES: list[Any] = [object(), [object()], {"a": 1}, -1, 0, 2, math.nan, True,
                                b"bytes", 3 + 4j, "\x00"]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for spec in _SPECS:
        if spec.env:
            monkeypatch.delenv(spec.env, raising=False)
    set_settings(None)  # re-read the (cleaned) environment
    yield


@pytest.fixture
def bad_file(tmp_path: Path) -> str:
    path = tmp_path / "bad.json"
    path.write_text("{not json: [")
    return str(path)


def _value(raw: Any, bad_file: str) -> Any:
    return bad_file if raw == "BAD_FILE" else raw


def _strict_error(bad_file: str, *, env: dict[str, str] | None = None,
                  overrides: dict[str, Any] | None = None) -> ConfigError | None:
    """The ConfigError strict validation (as configure() does it) gives, if any."""
    try:
        configuration.check_files(load_settings(env or {}, overrides), strict=True)
    except ConfigError as exc:
        return exc
    return None


def _rejected_text(spec: Any, bad_file: str) -> list[tuple[str, ConfigError]]:
    out = []
    for raw in TEXT_CANDIDATES:
        value = _value(raw, bad_file)
        error = _strict_error(bad_file, env={spec.env: value}) if spec.env else \
            _strict_error(bad_file, overrides={spec.name: value})
        if error is not None:
            out.append((value, error))
    return out


def _rejected_objects(spec: Any, bad_file: str) -> list[tuple[Any, ConfigError]]:
    out = []
    for value in [*TEXT_CANDIDATES, *OBJECT_CANDIDATES]:
        value = _value(value, bad_file)
        error = _strict_error(bad_file, overrides={spec.name: value})
        if error is not None:
            out.append((value, error))
    return out


SPEC_PARAMS = [pytest.param(spec, id=spec.name) for spec in _SPECS]
# Free-form settings (a feature name, a salt) have no invalid value: they are checked to keep
# whatever they are given instead (test_free_form_setting_keeps_any_value_as_given).
FREE_FORM = [p for p in SPEC_PARAMS if p.values[0].accepted.startswith("any")]
CHECKED = [p for p in SPEC_PARAMS if not p.values[0].accepted.startswith("any")]


@pytest.mark.parametrize("spec", CHECKED)
def test_every_checked_setting_has_invalid_values(spec: Any, bad_file: str) -> None:
    rejected = _rejected_objects(spec, bad_file)
    assert rejected, f"no generic bad value is rejected by {spec.name}: add one to the table"
    for _, error in rejected:
        assert isinstance(error, ConfigError)


@pytest.mark.parametrize("spec", FREE_FORM)
def test_free_form_setting_keeps_any_value_as_given(
        spec: Any, bad_file: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    assert FREE_FORM and spec.env  # the free-form settings are variables too
    assert _rejected_objects(spec, bad_file) == []
    for raw in TEXT_CANDIDATES:
        value = _value(raw, bad_file)
        # configure()'s strict validation and the configurator's lenient read both keep it
        assert getattr(load_settings({}, {spec.name: value}), spec.name) == value
        monkeypatch.setenv(spec.env, value)
        set_settings(None)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tripwire"):
            install_settings_leniently()
            assert getattr(get_settings(), spec.name) == value
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # blank means unset: the default
    assert getattr(load_settings({spec.env: "  "}), spec.name) == getattr(DEFAULTS, spec.name)


@pytest.mark.parametrize("spec", CHECKED)
def test_configure_raises_config_error_naming_setting_and_accepted_values(
        spec: Any, bad_file: str) -> None:
    set_settings(dataclasses.replace(DEFAULTS, feature="before"))
    rejected = _rejected_objects(spec, bad_file)
    assert rejected
    for value, _ in rejected:
        with pytest.raises(ConfigError) as info:
            configuration.configure(tracer_provider=TracerProvider(), span_processors=[],
                                    **{spec.name: value})
        message = str(info.value)
        assert info.value.setting.startswith(spec.env or spec.name)  # files: "VAR (path)"
        assert (spec.env or spec.name) in message
        if spec.name not in ("prices_file", "budgets_file") or value != bad_file:
            assert spec.accepted in message
        assert get_settings().feature == "before"  # nothing installed


@pytest.mark.parametrize("spec", [p for p in CHECKED if p.values[0].env])
def test_startup_logs_the_same_message_and_keeps_the_default(
        spec: Any, bad_file: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """What the ``tripwire`` configurator runs at start-up (``install_settings_leniently``)."""
    rejected = _rejected_text(spec, bad_file)
    assert rejected, f"no bad text value is rejected by {spec.env}: add one to the table"
    for value, error in rejected:
        monkeypatch.setenv(spec.env, value)
        # another valid setting in the same environment is still applied
        monkeypatch.setenv("TRIPWIRE_FEATURE" if spec.env != "TRIPWIRE_FEATURE"
                           else "TRIPWIRE_TOOL_LOOP_THRESHOLD", "7")
        set_settings(None)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tripwire"):
            install_settings_leniently()  # must not raise
            settings = get_settings()
        logged = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(logged) == 1, [r.getMessage() for r in caplog.records]
        assert str(error) in logged[0].getMessage()
        assert getattr(settings, spec.name) == getattr(DEFAULTS, spec.name)
        assert settings.feature == "7" or settings.tool_loop_threshold == 7


def test_lazy_settings_read_never_raises_for_any_bad_variable(
        bad_file: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Without the configurator (manual instrumentation), the first ``get_settings()`` reads
    the environment: every bad value is logged and defaulted, none raises into the app."""
    expected = []
    for spec in _SPECS:
        rejected = _rejected_text(spec, bad_file) if spec.env else []
        if rejected:
            value, error = rejected[0]
            monkeypatch.setenv(spec.env, value)
            expected.append((spec, str(error)))
    set_settings(None)
    with caplog.at_level(logging.ERROR, logger="tripwire"):
        settings = get_settings()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    for spec, message in expected:
        assert any(message in m for m in messages), (spec.name, messages)
        if spec.name not in ("prices_file", "budgets_file"):  # files are checked later
            assert getattr(settings, spec.name) == getattr(DEFAULTS, spec.name)


SETTINGS_DUMP = textwrap.dedent("""
    import json
    from tripwire.runtime import get_settings
    s = get_settings()
    print("SETTINGS", json.dumps({k: repr(v) for k, v in vars(s).items()}))
""")


def test_opentelemetry_instrument_with_every_setting_bad(tmp_path: Path, bad_file: str) -> None:
    env_bad: dict[str, str] = {}
    expected: dict[str, str] = {}
    for spec in _SPECS:
        rejected = _rejected_text(spec, bad_file) if spec.env else []
        if rejected:
            value, error = rejected[-1]
            env_bad[spec.env] = value
            expected[spec.name] = str(error)
    free_form = [s for s in _SPECS if s.env and s.parse is settings_module._optional_str]
    assert len(expected) >= len([s for s in _SPECS if s.env]) - len(free_form)  # any string ok
    (tmp_path / "app_body.py").write_text(APP)
    with OTLPReceiver() as receiver:
        app = APP + SETTINGS_DUMP
        done = _run_app(tmp_path, app, _env(receiver.endpoint, **env_bad))
        assert done.returncode == 0, done.stderr
        assert receiver.got_spans.wait(10), done.stderr
    for name, message in expected.items():
        assert message in done.stderr, name
    dumped = json.loads(done.stdout.split("SETTINGS ", 1)[1])
    for name in expected:
        assert dumped[name] == repr(getattr(DEFAULTS, name)), name
    spans = {s["name"]: s for s in receiver.spans}
    # the application ran and its spans were enriched with the defaults
    assert spans["chat gpt-4o"]["attributes"]["tripwire.cost.usd"] == pytest.approx(0.0035)
    assert "tripwire.budget.exceeded" not in spans["chat gpt-4o"]["attributes"]


def _run_app(tmp_path: Path, app: str, env: dict[str, str]) -> Any:
    import test_zero_code

    original = test_zero_code.APP
    test_zero_code.APP = app
    try:
        return _run(tmp_path, env)
    finally:
        test_zero_code.APP = original
