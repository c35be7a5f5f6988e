"""The performance targets, read from their one home: the table between the
``bench-targets`` markers in docs/performance.md. Each row names a target, its limit
(``≤ N µs``) and where its figure is in the results (a JSON pointer into
``benchmarks/results/latest.json``); the median there is compared with the limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import fmt

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
BEGIN, END = "<!-- bench-targets:begin", "<!-- bench-targets:end -->"
_LIMIT = re.compile(r"^≤\s*(\d+(?:\.\d+)?)\s*(µs|ms|×)$")
_POINTER = re.compile(r"^`(/[^`\s]+)`$")


class TargetsError(ValueError):
    """The targets table is missing or a row does not read as a target."""


@dataclass(frozen=True)
class Target:
    label: str
    limit_us: float  # the limit, in ``unit`` (µs for the time targets)
    pointer: str  # JSON pointer into the results, e.g. /isolated/variants/tripwire/chat/added_us

    unit: str = "µs"  # µs, ms, or × (a ratio)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(part.replace("~1", "/").replace("~0", "~")
                     for part in self.pointer.split("/")[1:])


def parse(text: str) -> list[Target]:
    """The targets of the marked table in ``text`` (Markdown)."""
    lines = text.splitlines()
    begin = next((i for i, line in enumerate(lines) if line.startswith(BEGIN)), None)
    end = next((i for i, line in enumerate(lines) if line.startswith(END)), None)
    if begin is None or end is None or end < begin:
        raise TargetsError(f"no table between '{BEGIN} …' and '{END}'")
    rows = [(lineno, line) for lineno, line in enumerate(lines[begin + 1:end], start=begin + 2)
            if line.startswith("|")]
    targets = []
    for lineno, line in rows[2:]:  # after the header and the |---| row
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            raise TargetsError(f"line {lineno}: expected | target | limit | result |, "
                               f"got {len(cells)} cells")
        label, limit, pointer = cells
        limit_match, pointer_match = _LIMIT.match(limit), _POINTER.match(pointer)
        if not label or limit_match is None or pointer_match is None:
            raise TargetsError(f"line {lineno}: expected a label, '≤ N µs' and a `/json/pointer`"
                               f", got {cells}")
        targets.append(Target(label, float(limit_match.group(1)), pointer_match.group(1),
                              limit_match.group(2)))
    if not targets:
        raise TargetsError(f"the table between '{BEGIN} …' and '{END}' has no targets")
    return targets


def load(doc: Path = DOC) -> list[Target]:
    return parse(doc.read_text(encoding="utf-8"))


def _dig(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def evaluate(targets: list[Target], result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: ``status`` is ``met``, ``missed``, ``missing`` (its section ran
    but the figure is not in the results: a bench or table error) or ``not run`` (its
    section was not selected). With the figure also its size in floors (the floor measured
    in the same section, else in ``overhead``): figures from a loaded machine compare better
    that way."""
    rows = []
    for target in targets:
        section = target.path[0]
        row: dict[str, Any] = {"target": target.label, "limit_us": target.limit_us,
                               "unit": target.unit, "pointer": target.pointer,
                               "measured_us": None, "in_floors": None}
        value = _dig(result, target.path)
        if section not in result:
            row["status"] = "not run"
        elif not isinstance(value, dict) or not isinstance(value.get("median"), (int, float)):
            row["status"] = "missing"
        else:
            median = value["median"]
            floor = (_dig(result, (section, "floor_us", "median"))
                     or _dig(result, ("overhead", "floor_us", "median"))
                     if target.unit == "µs" else None)  # floors are µs
            row.update(measured_us=value, met=median <= target.limit_us,
                       status="met" if median <= target.limit_us else "missed",
                       in_floors=round(median / floor, 2) if floor else None)
        rows.append(row)
    return rows


def failed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that make ``--check`` fail: targets missed, or figures missing."""
    return [row for row in rows if row["status"] in ("missed", "missing")]


def print_targets(rows: list[dict[str, Any]], check: bool) -> None:
    """The measured targets; with ``check`` every target and a verdict line."""
    shown = rows if check else [row for row in rows if row["measured_us"] is not None]
    if not shown:
        return
    width = max(len(row["target"]) for row in shown)
    print("\n== targets (enrichment on)")
    for row in shown:
        floors = f"  = {row['in_floors']} floors" if row["in_floors"] else ""
        verdict = {"met": "met", "missed": "NOT met"}.get(row["status"], row["status"])
        print(f"{row['target']:<{width}} ≤ {row['limit_us']:>5.1f} {row.get('unit', 'µs')}: "
              f"{fmt(row['measured_us'], 2):>26}{floors}  {verdict}")
    if check:
        counts = {status: sum(row["status"] == status for row in rows)
                  for status in ("met", "missed", "missing", "not run")}
        print("check: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
              + f" of {len(rows)} targets in {DOC.name}"
              + ("; fails" if failed(rows) else "; passes"))
