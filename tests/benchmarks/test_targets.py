"""``benchmarks/bench.py --check``: the targets table in docs/performance.md and the
comparison with given figures (nothing here is timed)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

TABLE = """\
Some prose.

<!-- bench-targets:begin (read by benchmarks/targets.py) -->
| target | limit | figure |
|---|---|---|
| per call | ≤ 60 µs | `/isolated/variants/tripwire+enrich/chat/added_us` |
| per chunk | ≤ 2 µs | `/overhead/variants/tripwire+enrich/stream200/added_us_per_chunk` |
| per span | ≤ 10.5 µs | `/enrichment/processor_alone/us_per_span` |
<!-- bench-targets:end -->

| an unrelated | table |
|---|---|
| x | y |
"""


@pytest.fixture(scope="module")
def targets() -> ModuleType:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("targets")


def _stats(median: float) -> dict[str, float]:
    return {"median": median, "p10": median * 0.9, "p90": median * 1.2}


def _result(call: float, chunk: float, span: float) -> dict[str, Any]:
    return {
        "isolated": {"floor_us": _stats(40.0),
                     "variants": {"tripwire+enrich": {"chat": {"added_us": _stats(call)}}}},
        "overhead": {"floor_us": _stats(50.0), "variants": {"tripwire+enrich": {
            "stream200": {"added_us_per_chunk": _stats(chunk)}}}},
        "enrichment": {"processor_alone": {"us_per_span": _stats(span)}},
    }


def test_parse_reads_only_the_marked_table(targets: ModuleType) -> None:
    parsed = targets.parse(TABLE)
    assert [(t.label, t.limit_us) for t in parsed] == [
        ("per call", 60.0), ("per chunk", 2.0), ("per span", 10.5)]
    assert parsed[0].path == ("isolated", "variants", "tripwire+enrich", "chat", "added_us")


def test_the_docs_table_parses_and_points_into_known_sections(targets: ModuleType) -> None:
    parsed = targets.load()
    assert parsed
    sections = {"imports", "overhead", "isolated", "enrichment", "memory", "redaction",
                "budget-store"}
    assert {t.path[0] for t in parsed} <= sections


@pytest.mark.parametrize("bad", [
    TABLE.replace("<!-- bench-targets:end -->", ""),
    TABLE.replace("≤ 60 µs", "60 µs"),
    TABLE.replace("≤ 2 µs", "≤ 2 s"),
    TABLE.replace("`/isolated/variants/tripwire+enrich/chat/added_us`", "isolated.chat"),
    TABLE.replace("| per span | ≤ 10.5 µs |", "| per span |"),
    TABLE.split("| per call")[0] + "<!-- bench-targets:end -->\n",
])
def test_a_malformed_table_is_an_error(targets: ModuleType, bad: str) -> None:
    with pytest.raises(targets.TargetsError):
        targets.parse(bad)


def test_met_missed_and_the_limit_itself(targets: ModuleType) -> None:
    rows = targets.evaluate(targets.parse(TABLE), _result(call=60.0, chunk=2.01, span=3.0))
    assert [row["status"] for row in rows] == ["met", "missed", "met"]
    assert [row["target"] for row in targets.failed(rows)] == ["per chunk"]
    assert rows[1]["measured_us"] == _stats(2.01)


def test_floors_come_from_the_same_section_else_overhead(targets: ModuleType) -> None:
    rows = targets.evaluate(targets.parse(TABLE), _result(call=80.0, chunk=1.0, span=25.0))
    assert [row["in_floors"] for row in rows] == [2.0, 0.02, 0.5]


def test_a_section_not_run_does_not_fail_but_a_missing_figure_does(
        targets: ModuleType) -> None:
    result = _result(call=10.0, chunk=1.0, span=3.0)
    del result["enrichment"]
    result["overhead"]["variants"]["tripwire+enrich"] = {}
    rows = targets.evaluate(targets.parse(TABLE), result)
    assert [row["status"] for row in rows] == ["met", "missing", "not run"]
    assert [row["target"] for row in targets.failed(rows)] == ["per chunk"]


def test_check_output_lists_every_target(targets: ModuleType,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    result = _result(call=70.0, chunk=1.0, span=3.0)
    del result["enrichment"]
    targets.print_targets(targets.evaluate(targets.parse(TABLE), result), check=True)
    out = capsys.readouterr().out
    verdicts = {line.split(" ≤ ")[0].strip(): line.rsplit("  ", 1)[-1]
                for line in out.splitlines() if " ≤ " in line}
    assert verdicts == {"per call": "NOT met", "per chunk": "met", "per span": "not run"}
    assert "70.00 (63.00…84.00)" in out
    assert "1 met, 1 missed, 1 not run of 3 targets" in out and out.rstrip().endswith("fails")


def test_ratio_and_millisecond_targets(targets: ModuleType) -> None:
    table = TABLE.replace("| per span | ≤ 10.5 µs | `/enrichment/processor_alone/us_per_span` |",
                          "| slowdown | ≤ 4 × | `/redaction/worst_slowdown` |\n"
                          "| one prompt | ≤ 100 ms | `/redaction/end_to_end_1mb_ms` |")
    parsed = targets.parse(table)
    assert [(t.label, t.limit_us, t.unit) for t in parsed[2:]] == [
        ("slowdown", 4.0, "×"), ("one prompt", 100.0, "ms")]
    result = {"redaction": {"worst_slowdown": _stats(4.5), "end_to_end_1mb_ms": _stats(2.0)}}
    rows = targets.evaluate(parsed[2:], result)
    assert [(r["status"], r["in_floors"]) for r in rows] == [("missed", None), ("met", None)]


RELATIVE = """\
<!-- bench-targets:begin -->
| target | limit | figure |
|---|---|---|
| below official | ≤ 0.8 × `/overhead/variants/official/chat/added_us` | `/overhead/variants/tripwire/chat/added_us` |
| official + margin | ≤ `/overhead/variants/official/chat/added_us` + 30 µs | `/overhead/variants/tripwire+enrich/chat/added_us` |
| import | ≤ `/imports/cold/base` + 30 ms | `/imports/cold/ours` |
<!-- bench-targets:end -->
"""


def _relative_result(official: float, ours: float, enriched: float) -> dict[str, Any]:
    return {
        "overhead": {"floor_us": _stats(50.0), "variants": {
            "official": {"chat": {"added_us": _stats(official)}},
            "tripwire": {"chat": {"added_us": _stats(ours)}},
            "tripwire+enrich": {"chat": {"added_us": _stats(enriched)}}}},
        "imports": {"cold": {"base": _stats(70.0), "ours": _stats(101.0)}},
    }


def test_relative_limits_parse(targets: ModuleType) -> None:
    parsed = targets.parse(RELATIVE)
    assert [(t.factor, t.limit_us, t.unit, t.ref) for t in parsed] == [
        (0.8, 0.0, "µs", "/overhead/variants/official/chat/added_us"),
        (1.0, 30.0, "µs", "/overhead/variants/official/chat/added_us"),
        (1.0, 30.0, "ms", "/imports/cold/base"),
    ]
    assert parsed[0].ref_path == ("overhead", "variants", "official", "chat", "added_us")
    assert [t.limit_text for t in parsed] == [
        "0.8 × official/chat/added_us", "official/chat/added_us + 30 µs",
        "/imports/cold/base + 30 ms"]


def test_relative_limits_come_from_the_same_results(targets: ModuleType) -> None:
    parsed = targets.parse(RELATIVE)
    rows = targets.evaluate(parsed, _relative_result(official=100.0, ours=80.0, enriched=131.0))
    assert [row["limit_us"] for row in rows] == [80.0, 130.0, 100.0]
    assert [row["status"] for row in rows] == ["met", "missed", "missed"]
    assert rows[0]["reference"] == _stats(100.0)
    rows = targets.evaluate(parsed, _relative_result(official=200.0, ours=161.0, enriched=230.0))
    assert [row["status"] for row in rows] == ["missed", "met", "missed"]


def test_a_missing_reference_fails_and_an_unrun_one_does_not(targets: ModuleType) -> None:
    parsed = targets.parse(RELATIVE)
    result = _relative_result(official=100.0, ours=50.0, enriched=50.0)
    del result["overhead"]["variants"]["official"]
    del result["imports"]
    rows = targets.evaluate(parsed, result)
    assert [row["status"] for row in rows] == ["missing", "missing", "not run"]
    assert len(targets.failed(rows)) == 2


def test_relative_limits_print_with_their_reference(targets: ModuleType,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = targets.evaluate(targets.parse(RELATIVE),
                            _relative_result(official=100.0, ours=80.0, enriched=120.0))
    targets.print_targets(rows, check=True)
    out = capsys.readouterr().out
    assert "≤  80.0 µs [0.8 × official/chat/added_us]" in out
    assert "≤ 100.0 ms [/imports/cold/base + 30 ms]" in out


@pytest.mark.parametrize("limit", ["≤ 0.8 × official", "≤ `/a/b` + 30", "≤ `/a/b` - 3 µs",
                                   "≤ 0.8 × `a/b`"])
def test_a_malformed_relative_limit_is_an_error(targets: ModuleType, limit: str) -> None:
    table = RELATIVE.replace("≤ 0.8 × `/overhead/variants/official/chat/added_us`", limit)
    with pytest.raises(targets.TargetsError):
        targets.parse(table)
