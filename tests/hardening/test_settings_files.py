"""Hostile settings files: every read error is a ConfigError naming the setting; under
auto-instrumentation only that file's feature is dropped; ``tripwire check`` loads the files
as ``configure()`` does; an error quotes at most a short prefix of the offending value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tripwire import cli
from tripwire.errors import ConfigError
from tripwire.pipeline import check_files, install_settings_leniently
from tripwire.runtime import get_settings
from tripwire.settings import load_settings

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n" for i in range(8))


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    files = {
        "not-utf8.json": b'{"models": [{"match": "caf\xe9"}]}',
        "bomb.yaml": BOMB.encode(),
        "truncated.json": b'{"models": [',
    }
    out = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        out[name] = str(path)
    return out


@pytest.mark.parametrize("name", ["not-utf8.json", "bomb.yaml", "truncated.json"])
@pytest.mark.parametrize("setting", ["prices_file", "budgets_file"])
def test_every_read_error_is_a_short_config_error(bad_files: dict[str, str], name: str,
                                                  setting: str) -> None:
    settings = load_settings({}, {setting: bad_files[name]})
    with pytest.raises(ConfigError) as raised:
        check_files(settings, strict=True)
    message = str(raised.value)
    assert f"TRIPWIRE_{setting.upper()}" in message
    assert len(message) < 600  # a prefix of the value, never the whole (expanded) file


def test_a_long_value_is_quoted_as_a_prefix() -> None:
    message = str(ConfigError("X", "y" * 100_000, "short"))
    assert len(message) < 400 and "100002 characters" in message


def test_auto_instrumentation_drops_only_the_broken_file(
        bad_files: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.json"
    budgets.write_text('{"budgets": [{"name": "b", "scope": "global", "usd": 1}]}')
    monkeypatch.setenv("TRIPWIRE_PRICES_FILE", bad_files["not-utf8.json"])
    monkeypatch.setenv("TRIPWIRE_BUDGETS_FILE", str(budgets))
    monkeypatch.setenv("TRIPWIRE_FEATURE", "checkout")
    install_settings_leniently()
    settings = get_settings()
    assert settings.prices_file is None  # dropped, and said so
    assert settings.budgets_file == str(budgets) and settings.feature == "checkout"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "TRIPWIRE_PRICES_FILE" in errors[0].getMessage()


def test_check_command_loads_the_files_as_configure_does(
        bad_files: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIPWIRE_BUDGETS_FILE", bad_files["truncated.json"])
    assert cli.main(["check"]) == 1
    assert "✗ TRIPWIRE_BUDGETS_FILE" in capsys.readouterr().out
