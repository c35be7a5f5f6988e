"""The performance targets, read from their one home: the table between the
``bench-targets`` markers in docs/performance.md. Each row names a target, its limit and
where its figure is in the results (a JSON pointer into ``benchmarks/results/latest.json``);
the median there is compared with the limit. A limit is absolute (``≤ N µs``, ``≤ N ms``,
``≤ N ×``) or relative to another figure of the same run: ``≤ R × `/pointer``` (a ratio of
that figure's median) or ``≤ `/pointer` + N µs`` (its median plus a margin, µs or ms)."""

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
_RATIO_OF = re.compile(r"^≤\s*(\d+(?:\.\d+)?)\s*×\s*`(/[^`\s]+)`$")
_PLUS = re.compile(r"^≤\s*`(/[^`\s]+)`\s*\+\s*(\d+(?:\.\d+)?)\s*(µs|ms)$")


class TargetsError(ValueError):
    """The targets table is missing or a row does not read as a target."""


@dataclass(frozen=True)
class Target:
    label: str
    limit_us: float  # the limit, in ``unit`` (µs for the time targets)
    pointer: str  # JSON pointer into the results, e.g. /isolated/variants/tripwire/chat/added_us

    unit: str = "µs"  # µs, ms, or × (a ratio)
    # Relative limits: limit = factor × (median at ``ref``) + limit_us, all from one run.
    ref: str | None = None
    factor: float = 0.0

    @property
    def path(self) -> tuple[str, ...]:
        return _split(self.pointer)

    @property
    def ref_path(self) -> tuple[str, ...] | None:
        return None if self.ref is None else _split(self.ref)

    @property
    def limit_text(self) -> str:
        if self.ref is None:
            return f"{self.limit_us:g} {self.unit}"
        ref = self.ref.rsplit("/variants/", 1)[-1]
        if self.factor != 1.0 or not self.limit_us:
            return f"{self.factor:g} × {ref}"
        return f"{ref} + {self.limit_us:g} {self.unit}"


def _split(pointer: str) -> tuple[str, ...]:
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:])


def _parse_limit(limit: str, pointer: str) -> dict[str, Any] | None:
    """The limit cell as ``Target`` fields, or None when it does not read as a limit."""
    match = _LIMIT.match(limit)
    if match:
        return {"limit_us": float(match.group(1)), "unit": match.group(2)}
    match = _RATIO_OF.match(limit)
    if match:  # the figure and its reference are in the same unit
        return {"limit_us": 0.0, "factor": float(match.group(1)), "ref": match.group(2),
                "unit": "ms" if pointer.endswith("_ms") else "µs"}
    match = _PLUS.match(limit)
    if match:
        return {"limit_us": float(match.group(2)), "factor": 1.0, "ref": match.group(1),
                "unit": match.group(3)}
    return None


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
        pointer_match = _POINTER.match(pointer)
        fields = _parse_limit(limit, pointer.strip("`"))
        if not label or fields is None or pointer_match is None:
            raise TargetsError(f"line {lineno}: expected a label, a limit ('≤ N µs', "
                               "'≤ R × `/pointer`', '≤ `/pointer` + N µs') and a "
                               f"`/json/pointer`, got {cells}")
        targets.append(Target(label, pointer=pointer_match.group(1), **fields))
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
    that way. A relative limit is computed from its reference's median in the same results
    (``reference`` in the row); a missing reference is ``missing`` too."""
    rows = []
    for target in targets:
        section = target.path[0]
        limit: float | None = target.limit_us
        row: dict[str, Any] = {"target": target.label, "limit_us": limit,
                               "limit": target.limit_text, "unit": target.unit,
                               "pointer": target.pointer, "measured_us": None,
                               "in_floors": None}
        value = _dig(result, target.path)
        reference = None
        if target.ref_path is not None:
            reference = _dig(result, target.ref_path)
            row["reference"] = reference
            limit = (round(target.factor * reference["median"] + target.limit_us, 2)
                     if _is_stats(reference) else None)
            row["limit_us"] = limit
        if section not in result or (target.ref_path is not None
                                     and target.ref_path[0] not in result):
            row["status"] = "not run"
        elif not _is_stats(value) or limit is None:
            row["status"] = "missing"
        else:
            median = value["median"]
            floor = (_dig(result, (section, "floor_us", "median"))
                     or _dig(result, ("overhead", "floor_us", "median"))
                     if target.unit == "µs" else None)  # floors are µs
            row.update(measured_us=value, met=median <= limit,
                       status="met" if median <= limit else "missed",
                       in_floors=round(median / floor, 2) if floor else None)
        rows.append(row)
    return rows


def _is_stats(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("median"), (int, float))


def failed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that make ``--check`` fail: targets missed, or figures missing."""
    return [row for row in rows if row["status"] in ("missed", "missing")]


def print_targets(rows: list[dict[str, Any]], check: bool) -> None:
    """The measured targets; with ``check`` every target and a verdict line."""
    shown = rows if check else [row for row in rows if row["measured_us"] is not None]
    if not shown:
        return
    width = max(len(row["target"]) for row in shown)
    print("\n== targets")
    for row in shown:
        floors = f"  = {row['in_floors']} floors" if row["in_floors"] else ""
        verdict = {"met": "met", "missed": "NOT met"}.get(row["status"], row["status"])
        limit = row["limit_us"]
        shown_limit = "?" if limit is None else f"{limit:>5.1f}"
        relative = f" [{row['limit']}]" if "reference" in row else ""
        print(f"{row['target']:<{width}} ≤ {shown_limit} {row.get('unit', 'µs')}{relative}: "
              f"{fmt(row['measured_us'], 2):>26}{floors}  {verdict}")
    if check:
        counts = {status: sum(row["status"] == status for row in rows)
                  for status in ("met", "missed", "missing", "not run")}
        print("check: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
              + f" of {len(rows)} targets in {DOC.name}"
              + ("; fails" if failed(rows) else "; passes"))
