"""The Prometheus alert rules (``collector-config/alerts.yaml``) use the names our metrics get
in Prometheus, and each rule fires and stays quiet where it should (``promtool test rules``).

``promtool`` ships with Debian's ``prometheus`` package (``scripts/install-test-deps.sh``).
The promtool test is skipped only outside CI when the binary is missing; on CI it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
import promnames

CONFIG = Path(__file__).resolve().parents[1] / "collector-config"
ALERTS = CONFIG / "alerts.yaml"
ALERT_TESTS = CONFIG / "alerts.test.yaml"

# What issue #19 asks the rules to cover, by alert name.
REQUIRED_ALERTS = {
    "TripwireSpendOverHourlyBudget", "TripwireSpendBurnRateHigh", "TripwireDailySpendOverBudget",
    "TripwireBudgetViolation", "TripwireRefusalRateSpike", "TripwireModelChanged",
    "TripwireLLMErrorRateHigh", "TripwireLLMLatencyP95High", "TripwireContextWindowNearlyFull",
    "TripwireRetryStorm", "TripwireToolCallErrorRateHigh", "TripwireRetrievalEmpty",
}
# Labels an alert may group by that tell its series apart in a test's input.
GROUPING_LABELS = ("job", "gen_ai_request_model", "gen_ai_provider_name",
                   "gen_ai_data_source_id", "tripwire_budget_name")


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _parse_series(text: str) -> tuple[str, dict[str, str]]:
    match = re.fullmatch(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*", text)
    assert match, text
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', match.group(2) or ""))
    return match.group(1), labels


def test_rules_cover_the_issue_and_are_labelled() -> None:
    alerts = _alerts()
    assert set(alerts) >= REQUIRED_ALERTS, sorted(REQUIRED_ALERTS - set(alerts))
    for name, rule in alerts.items():
        assert name.startswith("Tripwire"), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_metric_and_label_in_the_rules_is_one_we_emit() -> None:
    emitted = set(promnames.emitted_series())
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    allowed = promnames.allowed_labels()
    used: set[str] = set()
    for rule in _rules():
        name = rule.get("alert") or rule["record"]
        names = promnames.metric_names(rule["expr"])
        assert names or "record" in rule, f"{name}: no metric in its expression"
        unknown = names - emitted - recorded
        assert not unknown, f"{name}: {sorted(unknown)} is not a series the library emits"
        used |= names & emitted
        labels = promnames.label_names(rule["expr"])
        assert labels <= allowed, f"{name}: unknown labels {sorted(labels - allowed)}"
    # the alerts watch every tripwire counter and the gen_ai duration histogram
    assert {"tripwire_cost_USD_total", "tripwire_budget_violations_total",
            "tripwire_refusals_total", "tripwire_model_changes_total",
            "tripwire_tool_call_errors_total", "tripwire_retries_total",
            "gen_ai_client_operation_duration_seconds_count",
            "gen_ai_client_operation_duration_seconds_bucket",
            "tripwire_context_window_utilization_bucket",
            "tripwire_retrieval_documents_bucket"} <= used


def test_rule_tests_feed_series_named_as_we_emit_them() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    assert tests["rule_files"] == [ALERTS.name]
    emitted = set(promnames.emitted_series())
    allowed = promnames.allowed_labels()
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        inputs = [_parse_series(s["series"]) for s in case["input_series"]]
        for metric, labels in inputs:
            assert metric in emitted, f"{case['name']}: {metric} is not a series we emit"
            assert set(labels) <= allowed, f"{case['name']}: {sorted(set(labels) - allowed)}"
            assert "job" in labels, f"{case['name']}: {metric} has no job (service.name)"
        for check in case.get("alert_rule_test", []):
            name, expected = check["alertname"], check.get("exp_alerts") or []
            if not expected:
                quiet.add(name)
                continue
            fires.add(name)
            # the input holds more groups than fire: one of them must stay quiet
            groups = {tuple(labels.get(k) for k in GROUPING_LABELS) for _, labels in inputs}
            if len(groups) > len(expected):
                quiet.add(name)
    alerts = set(_alerts())
    assert fires == alerts, f"no firing case for {sorted(alerts - fires)}"
    assert quiet == alerts, f"no case that must not fire for {sorted(alerts - quiet)}"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: scripts/install-test-deps.sh installs prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus; "
                    "scripts/install-test-deps.sh)")
    return path


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", ALERTS.name], cwd=CONFIG,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in check.stdout + check.stderr
    run = subprocess.run([promtool, "test", "rules", ALERT_TESTS.name], cwd=CONFIG,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr
