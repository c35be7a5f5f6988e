"""The prices overlay file: every validation error's full message (it names the setting, the
entry and what is accepted), the values each check lets through at its boundary, and each
rate read from its own key (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tripwire.errors import ConfigError
from tripwire.processors.prices import OverlayEntry, load_overlay

FLAT = "a non-negative number"
TYPED = "a non-negative number (USD per million tokens)"


def _load(tmp_path: Path, data: Any) -> tuple[OverlayEntry, ...]:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    return load_overlay(str(path))


def _error(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load_overlay(str(path))
    return str(caught.value).replace(str(path), "PATH")


@pytest.mark.parametrize(("data", "shown"), [
    ([], "'list'"),
    ({"model": []}, "'dict'"),
    ({"models": {"match": "m"}}, "'dict'"),
    ("models", "'str'"),
])
def test_a_file_without_a_models_list(tmp_path: Path, data: Any, shown: str) -> None:
    assert _error(tmp_path, data) == (
        f"invalid value {shown} for TRIPWIRE_PRICES_FILE (PATH): "
        'expected a mapping with a "models" list')


@pytest.mark.parametrize(("raw", "shown"), [
    (5, "5"),
    (["m"], "['m']"),
    ({"input_per_mtok": 1}, "{'input_per_mtok': 1}"),
    ({"match": 7}, "{'match': 7}"),
    ({"match": ""}, "{'match': ''}"),
    ({"match": None}, "{'match': None}"),
])
def test_an_entry_without_a_match_names_its_index(tmp_path: Path, raw: Any, shown: str) -> None:
    # the second entry is the bad one: the message names models[1], not models[0]
    message = _error(tmp_path, {"models": [{"match": "ok"}, raw]})
    assert message == (f"invalid value {shown} for TRIPWIRE_PRICES_FILE (PATH) models[1]: "
                       'expected a mapping with a non-empty "match" model name')


@pytest.mark.parametrize(("window", "shown"), [
    (0, "0"), (-1, "-1"), (True, "True"), (False, "False"), ("8192", "'8192'"),
    (8192.0, "8192.0"),
])
def test_a_bad_context_window(tmp_path: Path, window: Any, shown: str) -> None:
    message = _error(tmp_path, {"models": [{"match": "m", "context_window": window}]})
    assert message == (f"invalid value {shown} for TRIPWIRE_PRICES_FILE (PATH) models[0]: "
                       "expected context_window: a positive integer")


@pytest.mark.parametrize("provider", [5, ["openai"], True])
def test_a_provider_that_is_not_text(tmp_path: Path, provider: Any) -> None:
    message = _error(tmp_path, {"models": [{"match": "m", "provider": provider}]})
    assert message == (f"invalid value {provider!r} for TRIPWIRE_PRICES_FILE (PATH) "
                       "models[0]: expected provider: a gen_ai.provider.name value")


KEYS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("value", "shown", "accepted"), [
    (True, "True", TYPED),
    (False, "False", TYPED),
    (None, None, None),  # absent: no rate
    ([1], "[1]", TYPED),
    ({"usd": 1}, "{'usd': 1}", TYPED),
    ("cheap", "'cheap'", FLAT),
    ("NaN", "'NaN'", FLAT),
    ("Infinity", "'Infinity'", FLAT),
    ("-Infinity", "'-Infinity'", FLAT),
    (-1, "-1", FLAT),
    (-0.000001, "-1e-06", FLAT),
    ("-0.5", "'-0.5'", FLAT),
])
def test_a_bad_rate_names_its_key(tmp_path: Path, key: str, value: Any, shown: str | None,
                                  accepted: str | None) -> None:
    if value is None:
        (entry,) = _load(tmp_path, {"models": [{"match": "m", key: None}]})
        assert getattr(entry, key) is None
        return
    message = _error(tmp_path, {"models": [{"match": "ok"}, {"match": "m", key: value}]})
    assert message == (f"invalid value {shown} for TRIPWIRE_PRICES_FILE (PATH) models[1]: "
                       f"expected {key}: {accepted}")


def test_each_rate_is_read_from_its_own_key_exactly(tmp_path: Path) -> None:
    entries = _load(tmp_path, {"models": [
        {"match": "a*", "provider": "openai", "input_per_mtok": 0.1,
         "output_per_mtok": "0.2", "cache_read_per_mtok": 3, "cache_write_per_mtok": "4.25",
         "context_window": 1},
        {"match": "B", "input_per_mtok": 0, "output_per_mtok": "-0"},
        {"match": "c", "context_window": 128_000},
    ]})
    assert entries == (
        OverlayEntry("a*", provider="openai", input_per_mtok=Decimal("0.1"),
                     output_per_mtok=Decimal("0.2"), cache_read_per_mtok=Decimal("3"),
                     cache_write_per_mtok=Decimal("4.25"), context_window=1),
        OverlayEntry("B", input_per_mtok=Decimal(0), output_per_mtok=Decimal("-0")),
        OverlayEntry("c", context_window=128_000),
    )
    # exact decimals, not binary floats: 0.1 is read as its text
    assert str(entries[0].input_per_mtok) == "0.1"
    assert str(entries[0].cache_read_per_mtok) == "3"
    assert entries[1].priced and not entries[2].priced


def test_an_empty_models_list_is_no_overlay(tmp_path: Path) -> None:
    assert _load(tmp_path, {"models": []}) == ()


def test_an_unreadable_file_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(ConfigError) as caught:
        load_overlay(str(path))
    assert caught.value.setting == f"TRIPWIRE_PRICES_FILE ({path})"
    assert caught.value.accepted == "a readable UTF-8 JSON or YAML file"
